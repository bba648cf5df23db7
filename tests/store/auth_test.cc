// Authenticated and encrypted chunks (issue: multi-tenant safety): the
// attacks a pod with write access to the shared volume can try, each of
// which must end as a miss counted under verify_failures{reason="auth"},
// never as a load reported good (on a miss the buffer holds unspecified
// bytes, as for any failed load).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <tuple>

#include "crypto/chunk_cipher.h"
#include "crypto/namespace_keys.h"
#include "format/chunk_format.h"
#include "layout/layout.h"
#include "store/chunk_verify.h"
#include "test_util.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;
using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;

constexpr size_t kLen = 100000;  // not a 4 KiB multiple: the tail path too
const char kPattern[] = "TENANT-A-SECRET-PROMPT-0123456789";

std::string KeyFile(const ScratchDir& dir, const std::string& name, const std::string& lines) {
  std::string path = dir.path() + "/" + name;
  std::ofstream(path) << lines;
  ::chmod(path.c_str(), 0600);
  return path;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A payload with the pattern planted every 4 KiB.
std::vector<char> Secret() {
  std::vector<char> v = Payload(kLen, 7);
  for (size_t at = 0; at + sizeof(kPattern) < kLen; at += 4096) {
    std::copy(kPattern, kPattern + sizeof(kPattern) - 1, v.begin() + static_cast<long>(at));
  }
  return v;
}

// Re-encodes a chunk file's header after `edit`, so its header checksum is
// valid again: what an attacker who knows the format does.
void EditHeader(const std::string& path, const std::function<void(ChunkHeader*)>& edit) {
  std::string bytes = ReadAll(path);
  ChunkHeader h;
  VerifyError why = VerifyError::kNone;
  ASSERT_TRUE(DecodeHeader(bytes.data(), bytes.size(), &h, &why).ok());
  edit(&h);
  std::vector<char> hdr(HeaderSize(h.key.size()), '\0');
  EncodeHeader(h, hdr.data());
  std::copy(hdr.begin(), hdr.end(), bytes.begin());
  WriteAll(path, bytes);
}

class Auth : public ::testing::Test {
 protected:
  void SetUp() override {
    key_a_ = KeyFile(keys_, "a", std::string(64, 'a') + "\n");
    key_b_ = KeyFile(keys_, "b", std::string(64, 'b') + "\n");
  }
  std::unique_ptr<Store> Open(const std::string& key_file, bool encrypt = false,
                              const Fingerprint& fp = test::TestFingerprint()) {
    StoreOptions o;
    o.auth_key_file = key_file;
    o.encrypt = encrypt;
    return OpenStore(root_.path(), o, fp);
  }
  // The fingerprint a store with a key file was opened under, read back from
  // its namespace's fingerprint.json, as any pod that can list the volume can.
  static Fingerprint Published(const Store& s) {
    Fingerprint fp;
    std::string json = ReadAll(s.namespace_dir() + "/fingerprint.json");
    EXPECT_TRUE(Fingerprint::FromJson(json, &fp).ok()) << json;
    return fp;
  }
  static std::string ChunkPath(const Store& s, const std::string& key) {
    return LocateChunk(s.namespace_dir(), key).path;
  }

  ScratchDir keys_;
  ScratchDir root_;
  std::string key_a_;
  std::string key_b_;
};

TEST_F(Auth, KeyIdNamesTheNamespace) {
  auto plain = OpenStore(root_.path());
  auto a = Open(key_a_);
  auto b = Open(key_b_);
  EXPECT_NE(plain->namespace_dir(), a->namespace_dir());
  EXPECT_NE(a->namespace_dir(), b->namespace_dir());
  std::string json = ReadAll(a->namespace_dir() + "/fingerprint.json");
  EXPECT_NE(json.find("\"auth_key_id\":\""), std::string::npos) << json;
  // The id is not the key, nor any run of it.
  EXPECT_EQ(json.find("aaaaaaaa"), std::string::npos) << json;
}

// 4a. A writer without the key plants a chunk with a valid XXH3 checksum
// under the victim's key, in the victim's namespace (whose fingerprint it
// read from fingerprint.json).
TEST_F(Auth, PlantedPlainChunkIsAMiss) {
  auto victim = Open(key_a_);
  auto attacker = OpenStore(root_.path(), {}, Published(*victim));
  ASSERT_EQ(attacker->namespace_dir(), victim->namespace_dir());
  std::vector<char> poison = Payload(kLen, 666);
  ASSERT_TRUE(attacker->Put("victim-key", poison.data(), kLen));
  std::vector<char> out(kLen, 'S');
  EXPECT_FALSE(victim->Get("victim-key", out.data(), kLen));
  EXPECT_EQ(Metric(*victim, "verify_failures_total.auth"), 1);
  EXPECT_FALSE(fs::exists(ChunkPath(*victim, "victim-key")));  // the victim may remove it
}

// 4b. A valid chunk copied from tenant A's namespace into tenant B's, as is
// and with its fingerprint field rewritten to B's (header checksum fixed).
TEST_F(Auth, ChunkCopiedAcrossNamespacesIsAMiss) {
  for (bool same_key : {false, true}) {
    SCOPED_TRACE(same_key);
    ScratchDir root;
    StoreOptions oa;
    oa.auth_key_file = key_a_;
    StoreOptions ob = oa;
    if (!same_key) ob.auth_key_file = key_b_;
    // Same key file, other tenant salt: the namespace keys still differ.
    auto a = OpenStore(root.path(), oa, test::TestFingerprint("m/a"));
    auto b = OpenStore(root.path(), ob, test::TestFingerprint("m/b"));
    std::vector<char> data = Secret();
    ASSERT_TRUE(a->Put("k", data.data(), kLen));
    const std::string dst = ChunkPath(*b, "k");
    fs::create_directories(fs::path(dst).parent_path());
    fs::copy_file(ChunkPath(*a, "k"), dst);
    std::vector<char> out(kLen);
    EXPECT_FALSE(b->Get("k", out.data(), kLen));
    EXPECT_EQ(Metric(*b, "verify_failures_total.fingerprint_mismatch"), 1);

    fs::copy_file(ChunkPath(*a, "k"), dst);
    std::string b_fp = ReadAll(b->namespace_dir() + "/fingerprint.json");
    Fingerprint fpb;
    ASSERT_TRUE(Fingerprint::FromJson(b_fp, &fpb).ok());
    EditHeader(dst, [&](ChunkHeader* h) {
      h->fingerprint = Hash128{fpb.digest_lo(), fpb.digest_hi()};
    });
    EXPECT_FALSE(b->Get("k", out.data(), kLen));
    EXPECT_EQ(Metric(*b, "verify_failures_total.auth"), 1);
    EXPECT_TRUE(a->Get("k", out.data(), kLen));  // the original is untouched
  }
}

// 4c. A MAC'd chunk with payload bytes changed and every checksum recomputed
// (payload XXH3 and header), and one moved under another key's name.
TEST_F(Auth, TamperedChunkIsAMiss) {
  for (bool encrypt : {false, true}) {
    SCOPED_TRACE(encrypt);
    ScratchDir root;
    StoreOptions o;
    o.auth_key_file = key_a_;
    o.encrypt = encrypt;
    auto s = OpenStore(root.path(), o);
    std::vector<char> data = Secret();
    ASSERT_TRUE(s->Put("k", data.data(), kLen));
    const std::string path = ChunkPath(*s, "k");
    const std::string good = ReadAll(path);
    std::string bad = good;
    const size_t payload_at = HeaderSize(1);
    bad[payload_at + 5000] = static_cast<char>(bad[payload_at + 5000] ^ 1);
    WriteAll(path, bad);
    EditHeader(path, [&](ChunkHeader* h) {
      h->checksum_type = ChecksumType::kXxh3_128;
      h->payload_checksum = Xxh3_128(bad.data() + payload_at, kLen);
    });
    std::vector<char> out(kLen);
    EXPECT_FALSE(s->Get("k", out.data(), kLen));
    EXPECT_EQ(Metric(*s, "verify_failures_total.auth"), 1);

    // The good file under another key's name, its key field rewritten.
    const std::string other = ChunkPath(*s, "j");
    fs::create_directories(fs::path(other).parent_path());
    WriteAll(other, good);
    EditHeader(other, [](ChunkHeader* h) { h->key = "j"; });
    EXPECT_FALSE(s->Get("j", out.data(), kLen));
    EXPECT_EQ(Metric(*s, "verify_failures_total.auth"), 2);
  }
}

// 4d. No plaintext byte reaches an encrypted chunk's file; the same search
// finds the pattern in a MAC-only chunk (so the search itself works), and a
// store without the key loads nothing from the encrypted one.
TEST_F(Auth, EncryptedFileHoldsNoPlaintext) {
  auto sealed = Open(key_a_, /*encrypt=*/true);
  std::vector<char> data = Secret();
  ASSERT_TRUE(sealed->Put("k", data.data(), kLen));
  std::string file = ReadAll(ChunkPath(*sealed, "k"));
  EXPECT_EQ(file.find(kPattern), std::string::npos);
  EXPECT_EQ(file.find(std::string(data.data() + 4096 + 100, 16)), std::string::npos);
  std::vector<char> out(kLen);
  ASSERT_TRUE(sealed->Get("k", out.data(), kLen));
  EXPECT_EQ(out, data);

  ScratchDir other;
  StoreOptions o;
  o.auth_key_file = key_a_;
  auto mac_only = OpenStore(other.path(), o);
  ASSERT_TRUE(mac_only->Put("k", data.data(), kLen));
  EXPECT_NE(ReadAll(ChunkPath(*mac_only, "k")).find(kPattern), std::string::npos);

  auto keyless = OpenStore(root_.path(), {}, Published(*sealed));
  std::fill(out.begin(), out.end(), 0);
  EXPECT_FALSE(keyless->Get("k", out.data(), kLen));
  EXPECT_EQ(Metric(*keyless, "verify_failures_total.auth"), 1);
  EXPECT_TRUE(fs::exists(ChunkPath(*sealed, "k")));  // not the keyless reader's to remove
}

// Writers seal authenticated-only chunks with whichever MAC is faster on
// their CPU (FasterMacAlgorithm), so a reader must take both: the stored
// chunk, sealed again by hand under each algorithm (header and payload as
// associated data under the namespace's key for it), is a hit with the same
// bytes; the same file with one payload byte changed is a miss counted under
// auth and removed, so the key can be stored again.
TEST_F(Auth, EitherMacLoadsAndATamperedOneIsAMiss) {
  auto s = Open(key_a_);
  std::vector<char> data = Secret();
  KeyRing ring;
  ASSERT_TRUE(LoadKeyFile(Env::Default(), key_a_, &ring).ok());
  for (AuthAlgorithm alg : {AuthAlgorithm::kAes256Gcm, AuthAlgorithm::kChaCha20Poly1305}) {
    SCOPED_TRACE(static_cast<int>(alg));
    ASSERT_TRUE(s->Put("k", data.data(), kLen));
    const std::string path = ChunkPath(*s, "k");
    const Fingerprint fp = Published(*s);
    NamespaceKeys keys;
    ASSERT_TRUE(NamespaceKeys::Derive(ring, Hash128{fp.digest_lo(), fp.digest_hi()}, &keys).ok());
    std::string bytes = ReadAll(path);
    ChunkHeader h;
    VerifyError why = VerifyError::kNone;
    ASSERT_TRUE(DecodeHeader(bytes.data(), bytes.size(), &h, &why).ok());
    h.auth_alg = alg;
    h.tag = {};
    std::vector<char> hdr(HeaderSize(h.key.size()), '\0');
    EncodeHeader(h, hdr.data());
    const std::string aad = AuthenticatedHeaderBytes(hdr.data(), h.key.size(), alg);
    ChunkCipher mac;
    ASSERT_TRUE(mac.Begin(alg, *keys.Find(h.auth_key_id, alg), h.nonce, true));
    ASSERT_TRUE(mac.Aad(aad.data(), aad.size()));
    ASSERT_TRUE(mac.Aad(data.data(), kLen));
    ASSERT_TRUE(mac.SealTag(&h.tag));
    std::fill(hdr.begin(), hdr.end(), '\0');
    EncodeHeader(h, hdr.data());
    std::copy(hdr.begin(), hdr.end(), bytes.begin());
    WriteAll(path, bytes);

    std::vector<char> out(kLen);
    ASSERT_TRUE(s->Get("k", out.data(), kLen));
    EXPECT_EQ(out, data);
    const double failures = Metric(*s, "verify_failures_total.auth");
    bytes[HeaderSize(h.key.size()) + 7] ^= 1;
    WriteAll(path, bytes);
    EXPECT_FALSE(s->Get("k", out.data(), kLen));
    EXPECT_EQ(Metric(*s, "verify_failures_total.auth"), failures + 1);
    EXPECT_FALSE(fs::exists(path));
  }
}

// `kvtier verify` over an authenticated namespace: a plain chunk planted
// there with a valid XXH3 checksum is bad (as loads see it), with or without
// the key file; the namespace's own chunks are good with it.
TEST_F(Auth, VerifyFlagsAPlainChunkInAnAuthenticatedNamespace) {
  auto victim = Open(key_a_);
  std::vector<char> data = Payload(kLen, 5);
  ASSERT_TRUE(victim->Put("good", data.data(), kLen));
  const Fingerprint fp = Published(*victim);
  auto attacker = OpenStore(root_.path(), {}, fp);
  ASSERT_TRUE(attacker->Put("planted", data.data(), kLen));
  KeyRing ring;
  ASSERT_TRUE(LoadKeyFile(Env::Default(), key_a_, &ring).ok());
  const Hash128 digest{fp.digest_lo(), fp.digest_hi()};
  const std::string planted = ChunkPath(*victim, "planted");
  for (const KeyRing* keys : {static_cast<const KeyRing*>(&ring), (const KeyRing*)nullptr}) {
    ChunkReport r = VerifyChunkFile(Env::Default(), planted, &digest, false, keys, true);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.why, VerifyError::kAuth);
  }
  // Without knowing the namespace is authenticated, its checksum passes.
  EXPECT_TRUE(VerifyChunkFile(Env::Default(), planted, &digest, false, &ring).ok);
  EXPECT_TRUE(
      VerifyChunkFile(Env::Default(), ChunkPath(*victim, "good"), &digest, false, &ring, true).ok);
  ChunkReport r = VerifyChunkFile(Env::Default(), planted, &digest, true, &ring, true);
  EXPECT_TRUE(r.removed);
  EXPECT_FALSE(fs::exists(planted));
}

// Rotation: [K2, K1] keeps K1's namespace, reads K1's chunks, writes with
// K2; a reader holding only K1 misses K2's chunks and leaves them in place.
TEST_F(Auth, RotationKeepsTheNamespace) {
  auto old_store = Open(key_a_);
  std::vector<char> data = Payload(kLen, 1);
  ASSERT_TRUE(old_store->Put("old", data.data(), kLen));
  std::string both =
      KeyFile(keys_, "both", std::string(64, 'c') + "\n" + std::string(64, 'a') + "\n");
  auto rotated = Open(both);
  EXPECT_EQ(rotated->namespace_dir(), old_store->namespace_dir());
  std::vector<char> out(kLen);
  EXPECT_TRUE(rotated->Get("old", out.data(), kLen));
  ASSERT_TRUE(rotated->Put("new", data.data(), kLen));
  EXPECT_TRUE(rotated->Get("new", out.data(), kLen));
  EXPECT_FALSE(old_store->Get("new", out.data(), kLen));
  EXPECT_EQ(Metric(*old_store, "verify_failures_total.auth"), 1);
  EXPECT_TRUE(fs::exists(ChunkPath(*old_store, "new")));
}

// Every read and write plan (direct or buffered, staged or not, one segment
// or many, thread pool or io_uring) round-trips sealed chunks and rejects a
// flipped payload bit.
class AuthPlans : public ::testing::TestWithParam<
                      std::tuple<bool, DirectIoMode, size_t, IoBackendKind, int64_t>> {};

TEST_P(AuthPlans, RoundTripAndTamper) {
  auto [encrypt, direct, segment, backend, timeout] = GetParam();
  ScratchDir keys;
  ScratchDir root;
  StoreOptions o;
  o.auth_key_file = KeyFile(keys, "k", std::string(64, 'd') + "\n");
  o.encrypt = encrypt;
  o.direct_io = direct;
  o.segment_bytes = segment;
  o.io_backend = backend;
  o.io_timeout_ns = timeout;
  std::unique_ptr<Store> s;
  Status st = Store::Open(root.path(), test::TestFingerprint(), o, &s);
  if (st.IsNotSupported()) GTEST_SKIP() << st.ToString();
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (size_t len : {size_t{0}, size_t{1}, size_t{4096}, kLen, size_t{3 << 20}}) {
    SCOPED_TRACE(len);
    // Aligned buffers, so O_DIRECT applies where the filesystem allows it.
    AlignedBuffer in(len + 4096);
    AlignedBuffer out(len + 4096);
    std::vector<char> data = Payload(len, static_cast<uint32_t>(len));
    if (len > 0) std::memcpy(in.data(), data.data(), len);
    const std::string key = "k" + std::to_string(len);
    ASSERT_TRUE(s->Put(key, in.data(), len));
    ASSERT_TRUE(s->Get(key, out.data(), len));
    if (len == 0) continue;  // memcmp of an empty vector's null data() is undefined
    EXPECT_EQ(std::memcmp(out.data(), data.data(), len), 0);
    const std::string path = LocateChunk(s->namespace_dir(), key).path;
    std::string bytes = ReadAll(path);
    bytes[HeaderSize(key.size()) + len - 1] ^= 0x40;  // the last payload byte
    WriteAll(path, bytes);
    EXPECT_FALSE(s->Get(key, out.data(), len));
  }
  EXPECT_EQ(Metric(*s, "verify_failures_total.auth"), 4);
}

INSTANTIATE_TEST_SUITE_P(
    All, AuthPlans,
    ::testing::Combine(::testing::Bool(),
                       ::testing::Values(DirectIoMode::kOff, DirectIoMode::kAuto),
                       ::testing::Values(size_t{4096}, kDefaultSegmentBytes),
                       ::testing::Values(IoBackendKind::kThreadPool, IoBackendKind::kUring),
                       ::testing::Values(int64_t{0}, kDefaultIoTimeoutNs)));

// Point 6: format limits are refused at submission, counted by reason, and
// leave nothing behind.
TEST(Limits, OversizedKeyAndPayloadAreRefusedAtPut) {
  ScratchDir root;
  auto s = OpenStore(root.path());
  const std::string long_key(kMaxKeyBytes + 1, 'x');
  char byte = 1;
  EXPECT_FALSE(s->Put(long_key, &byte, 1));
  EXPECT_EQ(Metric(*s, "puts_invalid_total.key_too_long"), 1);
  EXPECT_EQ(s->Contains({long_key}), std::vector<bool>{false});
  // Refused before the buffer is read: no 64 GiB allocation needed.
  uint64_t id = s->SubmitPut({PutRequest{"big", &byte, kMaxPayloadBytes + 1}});
  JobResult r;
  ASSERT_TRUE(s->Wait(id, &r, -1));
  EXPECT_EQ(r.outcomes, std::vector<KeyOutcome>{KeyOutcome::kInvalid});
  EXPECT_EQ(Metric(*s, "puts_invalid_total.payload_too_large"), 1);
  EXPECT_EQ(Metric(*s, "put_errors_total"), 0);
  EXPECT_EQ(Metric(*s, "verify_failures_total.header_checksum"), 0);
  // The longest key that fits still round-trips.
  const std::string max_key(kMaxKeyBytes, 'y');
  EXPECT_TRUE(s->Put(max_key, &byte, 1));
  char out = 0;
  EXPECT_TRUE(s->Get(max_key, &out, 1));
  EXPECT_EQ(out, 1);
}

}  // namespace
}  // namespace kvtier
