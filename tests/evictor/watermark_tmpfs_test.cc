// The daemon on a real 8 MiB tmpfs with a writer filling it: usage never
// stays above the high mark longer than a poll period plus the deletion
// time, comes down to the low mark, and the files deleted are exactly the
// least recently accessed ones.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "evictor_test_util.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT
using Clock = std::chrono::steady_clock;

constexpr size_t kChunk = 16 * 1024;
constexpr double kHigh = 0.85, kLow = 0.70, kPoll = 0.05;

TEST(EvictorWatermarks, TmpfsWithConcurrentWriter) {
  TmpfsMount fs("8m");
  if (!fs.ok()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
  const std::string root = fs.path();
  const std::string ns = MakeKvtierNamespace(root);
  // Files in LRU order: prefilled ones with atimes a day ago, ascending, then
  // the writer's, accessed now.
  std::vector<std::string> order;
  const int64_t old = WallNs() - 86400 * kSec;
  for (int i = 0; FsUsageRatio(root) < 0.90; ++i) {
    order.push_back(WriteKvtierChunk(ns, "pre" + std::to_string(i), kChunk, old + i * kSec, old));
  }
  const size_t prefilled = order.size();

  auto logger = QuietLogger();
  EvictorOptions o = TestOptions(root, logger.get());
  o.config.high_watermark = kHigh;
  o.config.low_watermark = kLow;
  o.config.poll_interval_s = kPoll;
  std::unique_ptr<Evictor> ev;
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  std::thread daemon([&] { EXPECT_TRUE(ev->Run().ok()); });

  std::atomic<bool> stop_writer{false};
  std::mutex order_mu;
  std::thread writer([&] {
    for (int i = 0; !stop_writer; ++i) {
      std::string key = "w" + std::to_string(i);
      ChunkLocation loc = LocateChunk(ns, key);
      MkdirAll(loc.leaf_dir);
      if (WriteFile(loc.path, kChunk)) {
        std::lock_guard<std::mutex> l(order_mu);
        order.push_back(loc.path);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(8));  // ~2 MB/s
    }
  });

  // Watch usage: the longest stretch above the high mark, and the lowest
  // level reached after the first eviction.
  const auto allowed = std::chrono::milliseconds(static_cast<int>(kPoll * 1000) + 450);
  auto above_since = Clock::now();
  bool above = true;
  Clock::duration longest{};
  double min_after = 1.0;
  bool evicted_once = false;
  const auto end = Clock::now() + std::chrono::milliseconds(2500);
  while (Clock::now() < end) {
    double u = FsUsageRatio(root);
    auto now = Clock::now();
    if (u > kHigh) {
      if (!above) above_since = now;
      above = true;
      longest = std::max(longest, now - above_since);
    } else {
      above = false;
      evicted_once = true;
    }
    if (evicted_once) min_after = std::min(min_after, u);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop_writer = true;
  writer.join();
  // Let the daemon settle after the last write, then stop it (promptly).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto t0 = Clock::now();
  ev->Stop();
  daemon.join();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));

  EXPECT_LE(longest, allowed)
      << "usage stayed above the high mark for "
      << std::chrono::duration_cast<std::chrono::milliseconds>(longest).count() << " ms";
  EXPECT_LE(min_after, kLow + 0.01) << "usage never came down to the low mark";
  EXPECT_LE(FsUsageRatio(root), kHigh);
  EXPECT_GT(ev->metrics().files_evicted->value(), 0u);

  // Exactly the least recently used: the deleted files form a prefix of the
  // LRU order.
  size_t first_kept = order.size();
  for (size_t i = 0; i < order.size(); ++i) {
    if (Exists(order[i])) {
      first_kept = i;
      break;
    }
  }
  for (size_t i = first_kept; i < order.size(); ++i) {
    EXPECT_TRUE(Exists(order[i])) << "file " << i << " deleted while older file " << first_kept
                                  << " was kept";
  }
  EXPECT_EQ(first_kept, ev->metrics().files_evicted->value());
  EXPECT_LT(first_kept, prefilled) << "the writer's fresh files should not have been needed";
}

}  // namespace
}  // namespace kvtier::evictor
