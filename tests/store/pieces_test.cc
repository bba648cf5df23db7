// Payloads gathered from and scattered into several buffers (PutRequest::
// pieces, GetRequest::pieces): one chunk file per key whose payload is the
// pieces' concatenation, through both backends, O_DIRECT on and off, with a
// deadline (staged loads) and without, plain, authenticated and encrypted.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "env/fault_injection_env.h"
#include "format/chunk_format.h"
#include "test_util.h"
#include "util/aligned_buffer.h"

namespace kvtier {
namespace {

using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;

enum class Seal { kNone, kMac, kEncrypt };

struct PiecesMode {
  IoBackendKind backend;
  DirectIoMode direct;
  bool deadline;
  Seal seal = Seal::kNone;
  size_t segment = 64 * 1024;  // several segments per chunk
};

// Buffers of the given sizes, each in its own block-aligned allocation,
// starting `misalign` bytes in.
struct Buffers {
  Buffers(const std::vector<size_t>& sizes, size_t misalign) {
    for (size_t n : sizes) {
      mem.push_back(std::make_unique<AlignedBuffer>(n + 2 * kBlockSize));
      std::memset(mem.back()->data(), 0x5a, n + 2 * kBlockSize);
      ptrs.push_back(mem.back()->data() + misalign);
      lens.push_back(n);
    }
  }
  std::vector<ConstPiece> In() const {
    std::vector<ConstPiece> v;
    for (size_t i = 0; i < ptrs.size(); ++i) v.push_back({ptrs[i], lens[i]});
    return v;
  }
  std::vector<MutablePiece> Out() const {
    std::vector<MutablePiece> v;
    for (size_t i = 0; i < ptrs.size(); ++i) v.push_back({ptrs[i], lens[i]});
    return v;
  }
  void Fill(const std::vector<char>& payload) {
    size_t off = 0;
    for (size_t i = 0; i < ptrs.size(); ++i) {
      std::memcpy(ptrs[i], payload.data() + off, lens[i]);
      off += lens[i];
    }
  }
  std::vector<char> Joined() const {
    std::vector<char> v;
    for (size_t i = 0; i < ptrs.size(); ++i) v.insert(v.end(), ptrs[i], ptrs[i] + lens[i]);
    return v;
  }
  size_t Total() const {
    size_t t = 0;
    for (size_t n : lens) t += n;
    return t;
  }
  std::vector<std::unique_ptr<AlignedBuffer>> mem;
  std::vector<char*> ptrs;
  std::vector<size_t> lens;
};

std::vector<std::string> ChunkFiles(const std::string& ns) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(ns)) {
    if (e.is_regular_file() && e.path().extension() == ".kv") out.push_back(e.path().string());
  }
  return out;
}

// A store on a scratch directory that passes for a FUSE mount, so that a
// deadline stages loads (they land in the worker's buffer and are copied
// out through the gate).
class PiecesModes : public ::testing::TestWithParam<PiecesMode> {
 protected:
  void SetUp() override {
    env_.SetFsType(FUSE_SUPER_MAGIC);
    opts_.env = &env_;
    opts_.io_backend = GetParam().backend;
    opts_.direct_io = GetParam().direct;
    opts_.io_timeout_ns = GetParam().deadline ? 30LL * 1000 * 1000 * 1000 : 0;
    opts_.segment_bytes = GetParam().segment;
    opts_.lookup_cache_ns = 0;
    if (GetParam().seal != Seal::kNone) {
      opts_.auth_key_file = keys_.path() + "/key";
      std::ofstream(opts_.auth_key_file) << std::string(64, 'c') << "\n";
      ::chmod(opts_.auth_key_file.c_str(), 0600);
      opts_.encrypt = GetParam().seal == Seal::kEncrypt;
    }
    store_ = OpenStore(dir_.path(), opts_);
    ASSERT_NE(store_, nullptr);
    EXPECT_EQ(Metric(*store_, "staged_reads"), GetParam().deadline ? 1 : 0);
  }
  void TearDown() override {
    if (store_ != nullptr) store_->Close();
  }
  KeyOutcome PutPieces(const std::string& key, const Buffers& b) {
    std::vector<PutRequest> r;
    r.emplace_back(key, b.In());
    return Run(store_->SubmitPut(std::move(r)));
  }
  KeyOutcome GetPieces(const std::string& key, const Buffers& b) {
    std::vector<GetRequest> r;
    r.emplace_back(key, b.Out());
    return Run(store_->SubmitGet(std::move(r)));
  }
  KeyOutcome Run(uint64_t id) {
    JobResult res;
    EXPECT_NE(id, 0u);
    EXPECT_TRUE(store_->Wait(id, &res, -1));
    EXPECT_EQ(res.outcomes.size(), 1u);
    return res.outcomes.empty() ? KeyOutcome::kRejected : res.outcomes[0];
  }

  ScratchDir dir_;
  ScratchDir keys_;
  FaultInjectionEnv env_{Env::Default()};
  StoreOptions opts_;
  std::unique_ptr<Store> store_;
};

TEST_P(PiecesModes, RoundTripsOneChunkPerKey) {
  // 1, 2 and 3 pieces; odd and block-aligned sizes (block-aligned buffers
  // of whole blocks but the last are what O_DIRECT moves in place); an
  // empty piece in the middle; pieces over several segments; with 2 MiB
  // segments, pieces that straddle the 64 KiB blocks a staged segment is
  // hashed and copied in.
  const std::vector<std::vector<size_t>> layouts = {
      {5000},
      {4096},
      {4096, 8192},
      {3 * 4096, 2 * 4096, 4097},
      {1, 65536 * 2 + 7, 4095},
      {65536, 3, 65536 * 2},
      {4096, 0, 4096},
      {100000, 70000},
      {100000, 3, 200000},
      {300000, 250001},
  };
  uint32_t seed = 1;
  size_t n_keys = 0;
  for (size_t misalign : {size_t{0}, size_t{3}}) {
    for (const auto& sizes : layouts) {
      std::string key = "p" + std::to_string(n_keys) + "-" + std::to_string(misalign);
      Buffers src(sizes, misalign);
      std::vector<char> payload = Payload(src.Total() + 1, seed++);
      payload.resize(src.Total());
      src.Fill(payload);
      ASSERT_EQ(PutPieces(key, src), KeyOutcome::kOk) << key;
      ++n_keys;

      // Scattered back into pieces of the same sizes.
      Buffers dst(sizes, misalign);
      ASSERT_EQ(GetPieces(key, dst), KeyOutcome::kOk) << key;
      EXPECT_EQ(dst.Joined(), payload) << key;
      // Bytes around each piece are left alone.
      for (size_t i = 0; i < dst.ptrs.size(); ++i) {
        EXPECT_EQ(static_cast<unsigned char>(dst.ptrs[i][dst.lens[i]]), 0x5a) << key << " " << i;
        if (misalign > 0) {
          EXPECT_EQ(static_cast<unsigned char>(dst.ptrs[i][-1]), 0x5a) << key;
        }
      }

      // The chunk is the concatenation: one buffer reads it whole...
      std::vector<char> whole(payload.size() + 1);
      ASSERT_TRUE(store_->Get(key, whole.data(), payload.size())) << key;
      whole.resize(payload.size());
      EXPECT_EQ(whole, payload) << key;
      // ...and a chunk written from one buffer scatters into pieces of
      // other sizes.
      const std::string key1 = key + "-one";
      ASSERT_TRUE(store_->Put(key1, payload.data(), payload.size()));
      std::vector<size_t> other = {payload.size() / 3, payload.size() - payload.size() / 3};
      Buffers dst2(other, misalign);
      ASSERT_EQ(GetPieces(key1, dst2), KeyOutcome::kOk) << key1;
      EXPECT_EQ(dst2.Joined(), payload) << key1;
      ++n_keys;
    }
  }
  EXPECT_EQ(ChunkFiles(store_->namespace_dir()).size(), n_keys);
  EXPECT_EQ(Metric(*store_, "verify_failures_total.payload_checksum"), 0);
  if (GetParam().direct == DirectIoMode::kOn) {
    EXPECT_TRUE(store_->load_direct_io());
    EXPECT_TRUE(store_->store_direct_io());
  }
}

TEST_P(PiecesModes, FlippedByteInTheSecondPieceIsAMiss) {
  const std::vector<size_t> sizes = {4096 + 100, 8192 + 5, 777};
  Buffers src(sizes, 0);
  std::vector<char> payload = Payload(src.Total(), 7);
  src.Fill(payload);
  const std::string key = "flip";
  ASSERT_EQ(PutPieces(key, src), KeyOutcome::kOk);
  auto files = ChunkFiles(store_->namespace_dir());
  ASSERT_EQ(files.size(), 1u);
  {
    // Header, then the payload: the second piece starts sizes[0] bytes in.
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(HeaderSize(key.size()) + sizes[0] + 50);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(at);
    f.write(&c, 1);
  }
  Buffers dst(sizes, 0);
  if (GetParam().seal == Seal::kNone) {
    EXPECT_EQ(GetPieces(key, dst), KeyOutcome::kCorrupt);
    EXPECT_EQ(Metric(*store_, "verify_failures_total.payload_checksum"), 1);
  } else {
    EXPECT_EQ(GetPieces(key, dst), KeyOutcome::kAuthFailed);
    EXPECT_EQ(Metric(*store_, "verify_failures_total.auth"), 1);
  }
  // The bad file was removed: now a plain miss.
  EXPECT_EQ(GetPieces(key, dst), KeyOutcome::kMiss);
}

TEST_P(PiecesModes, PiecesNotAddingUpToTheChunkAreAMiss) {
  Buffers src({4096, 5000}, 0);
  src.Fill(Payload(src.Total(), 9));
  ASSERT_EQ(PutPieces("k", src), KeyOutcome::kOk);
  Buffers shorter({4096, 4999}, 0);
  EXPECT_EQ(GetPieces("k", shorter), KeyOutcome::kCorrupt);
  EXPECT_EQ(Metric(*store_, "verify_failures_total.length_mismatch"), 1);
}

INSTANTIATE_TEST_SUITE_P(
    AllModes, PiecesModes,
    ::testing::Values(
        PiecesMode{IoBackendKind::kThreadPool, DirectIoMode::kOff, false},
        PiecesMode{IoBackendKind::kThreadPool, DirectIoMode::kOn, false},
        PiecesMode{IoBackendKind::kThreadPool, DirectIoMode::kOff, true},
        PiecesMode{IoBackendKind::kThreadPool, DirectIoMode::kOn, true},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOff, false},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOn, false},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOff, true},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOn, true},
        PiecesMode{IoBackendKind::kThreadPool, DirectIoMode::kOff, true, Seal::kMac},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOn, false, Seal::kMac},
        PiecesMode{IoBackendKind::kThreadPool, DirectIoMode::kOn, true, Seal::kEncrypt},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOn, false, Seal::kEncrypt},
        PiecesMode{IoBackendKind::kThreadPool, DirectIoMode::kOff, false, Seal::kEncrypt},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOn, true, Seal::kNone, 2 << 20},
        PiecesMode{IoBackendKind::kThreadPool, DirectIoMode::kOff, true, Seal::kNone, 2 << 20},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOn, true, Seal::kMac, 2 << 20},
        PiecesMode{IoBackendKind::kAuto, DirectIoMode::kOff, true, Seal::kEncrypt, 2 << 20}));

TEST(Pieces, MalformedRequestsAreInvalidAndNothingIsWritten) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  std::vector<char> a(4096, 'a'), b(100, 'b');
  auto outcomes = [&](uint64_t id) {
    JobResult r;
    EXPECT_TRUE(store->Wait(id, &r, -1));
    return r.outcomes;
  };
  std::vector<PutRequest> puts;
  puts.emplace_back("sum", std::vector<ConstPiece>{{a.data(), a.size()}, {b.data(), b.size()}});
  puts.back().len += 1;  // pieces do not add up to len
  puts.emplace_back("both", std::vector<ConstPiece>{{a.data(), a.size()}});
  puts.back().data = a.data();  // a buffer beside the pieces
  puts.emplace_back("null", std::vector<ConstPiece>{{nullptr, 10}});
  puts.emplace_back("many", std::vector<ConstPiece>(kMaxPayloadPieces + 1, {b.data(), 1}));
  puts.emplace_back("fine", std::vector<ConstPiece>{{a.data(), a.size()}, {b.data(), b.size()}});
  EXPECT_EQ(outcomes(store->SubmitPut(std::move(puts))),
            (std::vector<KeyOutcome>{KeyOutcome::kInvalid, KeyOutcome::kInvalid,
                                     KeyOutcome::kInvalid, KeyOutcome::kInvalid, KeyOutcome::kOk}));
  EXPECT_EQ(Metric(*store, "puts_stored_total"), 1);
  EXPECT_EQ(ChunkFiles(store->namespace_dir()).size(), 1u);

  std::vector<char> x(4096), y(100);
  std::vector<GetRequest> gets;
  gets.emplace_back("fine", std::vector<MutablePiece>{{x.data(), x.size()}, {y.data(), y.size()}});
  gets.back().len -= 1;  // pieces do not add up to len
  gets.emplace_back("fine", std::vector<MutablePiece>{{nullptr, 4196}});
  gets.emplace_back("fine", std::vector<MutablePiece>{{x.data(), x.size()}, {y.data(), y.size()}});
  EXPECT_EQ(outcomes(store->SubmitGet(std::move(gets))),
            (std::vector<KeyOutcome>{KeyOutcome::kInvalid, KeyOutcome::kInvalid, KeyOutcome::kOk}));
  EXPECT_EQ(x, a);
  EXPECT_EQ(y, b);
  // The single-buffer form is unchanged beside it.
  std::vector<char> whole(4196);
  ASSERT_TRUE(store->Get("fine", whole.data(), whole.size()));
  EXPECT_TRUE(std::equal(a.begin(), a.end(), whole.begin()));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), whole.begin() + 4096));
}

}  // namespace
}  // namespace kvtier
