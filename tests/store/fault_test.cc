// Filesystem faults make operations fail cleanly, leave no temp files and no
// visible damage, and the store recovers once the fault clears.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/wait.h>

#include <cerrno>
#include <filesystem>

#include "env/fault_injection_env.h"
#include "layout/layout.h"
#include "test_util.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;
using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;
using test::TmpfsMount;

size_t CountTempFiles(const std::string& root) {
  size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    if (IsTempFileName(e.path().filename().string())) ++n;
  }
  return n;
}

struct FaultCase {
  FaultOp op;
  int err;
  bool on_write;  // else on read
};

class Faults : public ::testing::TestWithParam<FaultCase> {};

TEST_P(Faults, FailCleanlyThenRecover) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  StoreOptions opts;
  opts.env = &env;
  opts.lookup_cache_ns = 0;
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> data = Payload(50000, 3), out(50000);
  const FaultCase& c = GetParam();
  if (!c.on_write) {
    ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  }

  env.SetError(c.op, c.err);
  if (c.on_write) {
    EXPECT_FALSE(store->Put("k", data.data(), data.size()));
    EXPECT_EQ(Metric(*store, "put_errors_total"), 1);
  } else {
    EXPECT_FALSE(store->Get("k", out.data(), out.size()));
  }
  EXPECT_GT(env.injected(), 0u);
  EXPECT_EQ(CountTempFiles(dir.path()), 0u);

  env.ClearErrors();
  ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  ASSERT_TRUE(store->Get("k", out.data(), out.size()));
  EXPECT_EQ(out, data);
}

INSTANTIATE_TEST_SUITE_P(Errnos, Faults,
                         ::testing::Values(FaultCase{FaultOp::kWrite, ENOSPC, true},
                                           FaultCase{FaultOp::kWrite, EIO, true},
                                           FaultCase{FaultOp::kOpen, EACCES, true},
                                           FaultCase{FaultOp::kRename, EIO, true},
                                           FaultCase{FaultOp::kMkdir, EACCES, true},
                                           FaultCase{FaultOp::kRead, EIO, false},
                                           FaultCase{FaultOp::kOpen, EACCES, false},
                                           FaultCase{FaultOp::kRead, EACCES, false}));

TEST(Faults, DurableSyncFailureIsNotStored) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  StoreOptions opts;
  opts.env = &env;
  opts.durable = true;
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> data = Payload(5000, 3);
  env.SetError(FaultOp::kSync, EIO);
  EXPECT_FALSE(store->Put("k", data.data(), data.size()));
  EXPECT_EQ(CountTempFiles(dir.path()), 0u);
  env.ClearErrors();
  EXPECT_TRUE(store->Put("k", data.data(), data.size()));
}

TEST(Faults, ShortTransfersStillRoundTrip) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  env.SetShortTransfer(1000);
  StoreOptions opts;
  opts.env = &env;
  opts.direct_io = DirectIoMode::kOff;
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> data = Payload(123457, 5), out(123457);
  ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  ASSERT_TRUE(store->Get("k", out.data(), out.size()));
  EXPECT_EQ(out, data);
}

// A store in `dir` through `env`, which reports a FUSE mount, with buffered
// transfers (so the wrapped files see each one) of `segment_bytes`.
std::unique_ptr<Store> OpenBufferedFuseStore(const ScratchDir& dir, FaultInjectionEnv* env,
                                             size_t segment_bytes) {
  env->SetFsType(FUSE_SUPER_MAGIC);
  StoreOptions opts;
  opts.env = env;
  opts.direct_io = DirectIoMode::kOff;
  opts.segment_bytes = segment_bytes;
  return OpenStore(dir.path(), opts);
}

// On FUSE, `auto` loads in 2 MiB transfers and stores in 512 KiB ones
// (io/io_choice.cc says why); an explicit segment_bytes applies to both.
// Buffered both ways, each transfer is one segment (the first read also
// carries the header), as the wrapped files see them.
TEST(Faults, FuseLoadsInLargerTransfersThanStores) {
  constexpr size_t kSlack = 64 << 10;  // a header, well under a segment
  for (const size_t explicit_seg : {size_t{0}, size_t{256} << 10}) {
    ScratchDir dir;
    FaultInjectionEnv env(Env::Default());
    auto store = OpenBufferedFuseStore(dir, &env, explicit_seg);
    ASSERT_NE(store, nullptr);
    std::vector<char> data = Payload(5 << 20, 7), out(5 << 20);
    ASSERT_TRUE(store->Put("k", data.data(), data.size()));
    ASSERT_TRUE(store->Get("k", out.data(), out.size()));
    EXPECT_EQ(out, data);
    const size_t load = explicit_seg != 0 ? explicit_seg : size_t{2} << 20;
    const size_t put = explicit_seg != 0 ? explicit_seg : kDefaultSegmentBytes;
    EXPECT_GE(env.largest_read(), load) << explicit_seg;
    EXPECT_LT(env.largest_read(), load + kSlack) << explicit_seg;
    EXPECT_GE(env.largest_write(), put) << explicit_seg;
    EXPECT_LT(env.largest_write(), put + kSlack) << explicit_seg;
  }
}

// Load transfers after the first (which carries the header) start at file
// offsets that are multiples of the segment size, so each lines up with a
// filesystem's blocks or stripes; cut at payload offsets, every one would
// start the header's 4 KiB past such a boundary. Headers of one block and
// of 15 (a long key: one the segment does not divide), payloads of whole
// segments (the tail the shorter first segment leaves rides with the last)
// and not.
TEST(Faults, LoadTransfersStartOnSegmentBoundaries) {
  for (const size_t seg : {size_t{0}, size_t{8} << 10, size_t{64} << 10, size_t{1} << 20}) {
    for (const size_t key_len : {size_t{5000}, size_t{60000}}) {
      for (const size_t len : {(size_t{5} << 20) + 12345, size_t{4} << 20}) {
        ScratchDir dir;
        FaultInjectionEnv env(Env::Default());
        auto store = OpenBufferedFuseStore(dir, &env, seg);
        ASSERT_NE(store, nullptr);
        const std::string key(key_len, 'k');
        std::vector<char> data = Payload(len, 9), out(data.size());
        ASSERT_TRUE(store->Put(key, data.data(), data.size()));
        ASSERT_TRUE(store->Get(key, out.data(), out.size()));
        EXPECT_EQ(out, data) << seg << " " << key_len << " " << len;
        const uint64_t load = seg != 0 ? seg : uint64_t{2} << 20;  // `auto` on FUSE
        EXPECT_GE(env.read_offset_alignment(), load) << seg << " " << key_len << " " << len;
        // Several transfers.
        EXPECT_NE(env.read_offset_alignment(), ~uint64_t{0}) << seg;
      }
    }
  }
}

TEST(Faults, CrashAtAnyByteNeverExposesATornChunk) {
  ScratchDir dir;
  std::vector<char> data = Payload(20000, 8), out(20000);
  for (uint64_t budget : {0ULL, 1ULL, 4095ULL, 4096ULL, 10000ULL, 20479ULL, 24575ULL}) {
    FaultInjectionEnv env(Env::Default());
    StoreOptions opts;
    opts.env = &env;
    opts.lookup_cache_ns = 0;
    auto store = OpenStore(dir.path(), opts);
    std::string key = "crash-" + std::to_string(budget);
    env.CrashAfterBytes(budget);
    EXPECT_FALSE(store->Put(key, data.data(), data.size())) << budget;
    store.reset();
    auto reader = OpenStore(dir.path());
    EXPECT_FALSE(reader->Get(key, out.data(), out.size())) << budget;
    EXPECT_EQ(reader->Contains({key}), std::vector<bool>{false});
  }
}

TEST(Faults, RealFullTmpfsThenRecovers) {
  TmpfsMount dir("1m");
  if (!dir.ok()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
  {
    StoreOptions opts;
    opts.lookup_cache_ns = 0;
    auto store = OpenStore(dir.path(), opts);
    std::vector<char> data = Payload(300000, 1), out(300000);
    int stored = 0;
    for (int i = 0; i < 6; ++i) {
      if (store->Put("k" + std::to_string(i), data.data(), data.size())) ++stored;
    }
    EXPECT_GE(stored, 2);
    EXPECT_LT(stored, 6);
    EXPECT_GE(Metric(*store, "put_errors_total"), 1);
    EXPECT_EQ(CountTempFiles(dir.path()), 0u);
    // Stored chunks still read back exactly.
    ASSERT_TRUE(store->Get("k0", out.data(), out.size()));
    EXPECT_EQ(out, data);
    // Free space and store again.
    fs::remove(LocateChunk(store->namespace_dir(), "k0").path);
    fs::remove(LocateChunk(store->namespace_dir(), "k1").path);
    EXPECT_TRUE(store->Put("k5", data.data(), data.size()));
  }
}

}  // namespace
}  // namespace kvtier
