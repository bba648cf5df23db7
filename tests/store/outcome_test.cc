// Per-key outcomes: each failure a job can meet is provoked for real (a
// missing file, a flipped payload byte, a tampered authenticated chunk, an
// injected EIO, a full write budget, the format's limits, an unusable
// namespace) and must come back as its own KeyOutcome, keyed to the right
// key of a mixed job, beside the counter that counts it. Deadlines:
// deadline_test.cc.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "env/fault_injection_env.h"
#include "format/chunk_format.h"
#include "layout/layout.h"
#include "test_util.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;
using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;
using Outcomes = std::vector<KeyOutcome>;

constexpr size_t kLen = 10000;

// The outcomes of job `id` (empty if it was refused or never finished).
Outcomes WaitOutcomes(Store* store, uint64_t id) {
  EXPECT_NE(id, 0u);
  JobResult r;
  if (id == 0 || !store->Wait(id, &r, -1)) return {};
  EXPECT_EQ(r.job_id, id);
  return r.outcomes;
}

Outcomes GetOutcomes(Store* store, const std::vector<std::string>& keys, size_t len = kLen) {
  std::vector<std::vector<char>> bufs(keys.size(), std::vector<char>(len));
  std::vector<GetRequest> gets;
  for (size_t i = 0; i < keys.size(); ++i) gets.push_back({keys[i], bufs[i].data(), len});
  return WaitOutcomes(store, store->SubmitGet(gets));
}

Outcomes PutOutcome(Store* store, const std::string& key, const std::vector<char>& data) {
  return WaitOutcomes(store, store->SubmitPut({{key, data.data(), data.size()}}));
}

void FlipByte(const std::string& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
  ASSERT_TRUE(f.good()) << path;
}

size_t LastPayloadByte(const std::string& key, size_t len) {
  return HeaderSize(key.size()) + len - 1;
}

TEST(Outcomes, NamesAreDistinctAndStable) {
  std::set<std::string> names;
  for (int i = 0; i < kKeyOutcomeCount; ++i) {
    names.insert(KeyOutcomeName(static_cast<KeyOutcome>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kKeyOutcomeCount));
  EXPECT_STREQ(KeyOutcomeName(KeyOutcome::kOk), "ok");
  EXPECT_STREQ(KeyOutcomeName(KeyOutcome::kAuthFailed), "auth_failed");
  EXPECT_STREQ(KeyOutcomeName(KeyOutcome::kRejected), "rejected");
}

TEST(Outcomes, HitsAndMissesPerKeyOfOneJob) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  std::vector<char> data = Payload(kLen, 1);
  EXPECT_EQ(PutOutcome(store.get(), "here", data), Outcomes{KeyOutcome::kOk});
  EXPECT_EQ(PutOutcome(store.get(), "here", data), Outcomes{KeyOutcome::kOk});  // already there
  EXPECT_EQ(Metric(*store, "puts_existing_total"), 1);
  EXPECT_EQ(GetOutcomes(store.get(), {"absent", "here", "gone"}),
            (Outcomes{KeyOutcome::kMiss, KeyOutcome::kOk, KeyOutcome::kMiss}));
  EXPECT_EQ(WaitOutcomes(store.get(), store->SubmitContains({"here", "absent"})),
            (Outcomes{KeyOutcome::kOk, KeyOutcome::kMiss}));
  EXPECT_EQ(Metric(*store, "get_misses_total"), 2);
}

TEST(Outcomes, AFlippedPayloadByteIsCorrupt) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  std::vector<char> data = Payload(kLen, 2);
  ASSERT_TRUE(store->Put("good", data.data(), kLen));
  ASSERT_TRUE(store->Put("bad", data.data(), kLen));
  FlipByte(LocateChunk(store->namespace_dir(), "bad").path, LastPayloadByte("bad", kLen));
  EXPECT_EQ(GetOutcomes(store.get(), {"good", "bad"}),
            (Outcomes{KeyOutcome::kOk, KeyOutcome::kCorrupt}));
  EXPECT_EQ(Metric(*store, "verify_failures_total.payload_checksum"), 1);
  EXPECT_EQ(Metric(*store, "corrupt_removed_total"), 1);
  // Removed: now a plain miss.
  EXPECT_EQ(GetOutcomes(store.get(), {"bad"}), Outcomes{KeyOutcome::kMiss});
}

TEST(Outcomes, ADirectoryUnderAChunkNameIsCorruptForLoadsAndStores) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  const ChunkLocation loc = LocateChunk(store->namespace_dir(), "squatted");
  fs::create_directories(loc.path);
  EXPECT_EQ(GetOutcomes(store.get(), {"squatted"}), Outcomes{KeyOutcome::kCorrupt});
  EXPECT_EQ(Metric(*store, "verify_failures_total.not_regular_file"), 1);
  EXPECT_EQ(PutOutcome(store.get(), "squatted", Payload(kLen, 3)), Outcomes{KeyOutcome::kCorrupt});
  EXPECT_EQ(Metric(*store, "put_errors_total"), 1);
  EXPECT_TRUE(fs::is_directory(loc.path));  // left alone
}

TEST(Outcomes, TamperedOrUnsealedChunksFailAuthentication) {
  ScratchDir keys;
  const std::string key_file = keys.path() + "/key";
  std::ofstream(key_file) << std::string(64, 'a') << "\n";
  ::chmod(key_file.c_str(), 0600);
  ScratchDir dir;
  StoreOptions o;
  o.auth_key_file = key_file;
  auto store = OpenStore(dir.path(), o);
  ASSERT_NE(store, nullptr);
  std::vector<char> data = Payload(kLen, 4);
  ASSERT_TRUE(store->Put("sealed", data.data(), kLen));
  ASSERT_TRUE(store->Put("tampered", data.data(), kLen));
  FlipByte(LocateChunk(store->namespace_dir(), "tampered").path, LastPayloadByte("tampered", kLen));
  // A writer without the key plants a plain chunk with a valid checksum
  // into the namespace (whose fingerprint it read from fingerprint.json).
  Fingerprint published;
  {
    std::ifstream in(store->namespace_dir() + "/fingerprint.json");
    std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_TRUE(Fingerprint::FromJson(json, &published).ok()) << json;
  }
  auto planter = OpenStore(dir.path(), {}, published);
  ASSERT_EQ(planter->namespace_dir(), store->namespace_dir());
  ASSERT_TRUE(planter->Put("planted", data.data(), kLen));
  EXPECT_EQ(GetOutcomes(store.get(), {"sealed", "tampered", "planted"}),
            (Outcomes{KeyOutcome::kOk, KeyOutcome::kAuthFailed, KeyOutcome::kAuthFailed}));
  EXPECT_EQ(Metric(*store, "verify_failures_total.auth"), 2);
}

TEST(Outcomes, InjectedEioIsAnIoErrorForEachKind) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  StoreOptions opts;
  opts.env = &env;
  opts.lookup_cache_ns = 0;  // every lookup asks the filesystem
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> data = Payload(kLen, 5);
  ASSERT_TRUE(store->Put("k", data.data(), kLen));

  env.SetError(FaultOp::kRead, EIO);
  EXPECT_EQ(GetOutcomes(store.get(), {"k", "absent"}),
            (Outcomes{KeyOutcome::kIoError, KeyOutcome::kMiss}));
  EXPECT_EQ(Metric(*store, "get_errors_total"), 1);
  env.ClearErrors();

  env.SetError(FaultOp::kWrite, EIO);
  EXPECT_EQ(PutOutcome(store.get(), "new", data), Outcomes{KeyOutcome::kIoError});
  EXPECT_EQ(Metric(*store, "put_errors_total"), 1);
  env.ClearErrors();

  env.SetError(FaultOp::kStat, EIO);
  EXPECT_EQ(WaitOutcomes(store.get(), store->SubmitContains({"k"})),
            Outcomes{KeyOutcome::kIoError});
  EXPECT_EQ(Metric(*store, "lookup_errors_total"), 1);
  env.ClearErrors();

  // The fault cleared, the same keys answer normally.
  EXPECT_EQ(GetOutcomes(store.get(), {"k"}), Outcomes{KeyOutcome::kOk});
  EXPECT_EQ(WaitOutcomes(store.get(), store->SubmitContains({"k", "new"})),
            (Outcomes{KeyOutcome::kOk, KeyOutcome::kMiss}));
}

TEST(Outcomes, AStoreOverTheWriteBudgetIsDropped) {
  ScratchDir dir;
  StoreOptions opts;
  opts.max_queued_write_bytes = kLen;  // one chunk fits, two do not
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> big = Payload(kLen + 1, 6), small = Payload(100, 7);
  uint64_t id = store->SubmitPut({{"big", big.data(), big.size()}, {"small", small.data(), 100}});
  EXPECT_EQ(WaitOutcomes(store.get(), id), (Outcomes{KeyOutcome::kDropped, KeyOutcome::kOk}));
  EXPECT_EQ(Metric(*store, "puts_dropped_total"), 1);
  EXPECT_EQ(store->Contains({"big", "small"}), (std::vector<bool>{false, true}));
}

TEST(Outcomes, KeysAndPayloadsOverTheFormatLimitsAreInvalid) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  const std::string long_key(kMaxKeyBytes + 1, 'x');
  char byte = 1;
  // Refused before the buffer is read: no 64 GiB allocation needed.
  uint64_t id = store->SubmitPut({PutRequest{long_key, &byte, 1},
                                  PutRequest{"huge", &byte, kMaxPayloadBytes + 1},
                                  PutRequest{"fine", &byte, 1}});
  EXPECT_EQ(WaitOutcomes(store.get(), id),
            (Outcomes{KeyOutcome::kInvalid, KeyOutcome::kInvalid, KeyOutcome::kOk}));
  EXPECT_EQ(Metric(*store, "puts_invalid_total.key_too_long"), 1);
  EXPECT_EQ(Metric(*store, "puts_invalid_total.payload_too_large"), 1);
}

TEST(Outcomes, AnUnusableNamespaceMissesAndDrops) {
  ScratchDir dir;
  std::string ns;
  std::vector<char> data = Payload(kLen, 8);
  {
    auto store = OpenStore(dir.path());
    ns = store->namespace_dir();
    ASSERT_TRUE(store->Put("k", data.data(), kLen));
  }
  std::ofstream(ns + "/fingerprint.json") << R"({"model":"someone-else"})";
  auto store = OpenStore(dir.path());
  ASSERT_FALSE(store->usable());
  EXPECT_EQ(GetOutcomes(store.get(), {"k"}), Outcomes{KeyOutcome::kMiss});
  EXPECT_EQ(PutOutcome(store.get(), "k2", data), Outcomes{KeyOutcome::kDropped});
  EXPECT_EQ(WaitOutcomes(store.get(), store->SubmitContains({"k"})), Outcomes{KeyOutcome::kMiss});
}

}  // namespace
}  // namespace kvtier
