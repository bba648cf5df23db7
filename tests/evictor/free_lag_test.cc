// A filesystem that reports freed space late (MooseFS, Lustre): statvfs
// through the fault env lags every unlink, and the evictor, polled again and
// again while it lags, must still delete about what was needed, not all.
#include <gtest/gtest.h>

#include "env/fault_injection_env.h"
#include "evictor/pending_free.h"
#include "evictor_test_util.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT

constexpr size_t kChunk = 16 * 1024;
constexpr double kHigh = 0.85, kLow = 0.70;

struct LagRun {
  uint64_t needed = 0;   // bytes above the low mark before the first pass
  uint64_t deleted = 0;  // bytes the evictor deleted in 5 passes
  uint64_t pending = 0;  // its estimate after them
  uint64_t overshoot = 0;
  double ratio_after = 0;  // real usage once statvfs caught up
  uint64_t deleted_after = 0;
};

LagRun EvictWhileStatvfsLags(double free_lag_s) {
  LagRun r;
  TmpfsMount fs("8m");
  if (!fs.ok()) return r;
  const std::string root = fs.path();
  const std::string ns = MakeKvtierNamespace(root);
  const int64_t old = WallNs() - 86400 * kSec;
  for (int i = 0; FsUsageRatio(root) < 0.90; ++i) {
    WriteKvtierChunk(ns, "c" + std::to_string(i), kChunk, old + i * kSec, old);
  }
  FaultInjectionEnv env(Env::Default());
  FsUsage u0;
  EXPECT_TRUE(env.GetFsUsage(root, &u0).ok());
  const uint64_t used0 = u0.total_bytes - u0.avail_bytes;
  r.needed = used0 - static_cast<uint64_t>(kLow * static_cast<double>(u0.total_bytes));
  env.SetFreeLag(3600 * kSec);  // nothing deleted shows up free during the passes

  auto logger = QuietLogger();
  EvictorOptions o = TestOptions(root, logger.get());
  o.env = &env;
  o.config.high_watermark = kHigh;
  o.config.low_watermark = kLow;
  o.config.free_lag_s = free_lag_s;
  std::unique_ptr<Evictor> ev;
  EXPECT_TRUE(Evictor::Open(o, &ev).ok());
  if (!ev) return r;
  for (int pass = 0; pass < 5; ++pass) EXPECT_TRUE(ev->RunOnce().ok());
  r.deleted = ev->metrics().bytes_evicted->value();
  r.pending = ev->metrics().pending_free_bytes->value();
  r.overshoot = ev->metrics().overshoot_bytes->value();

  env.SetFreeLag(0);  // statvfs catches up
  EXPECT_TRUE(ev->RunOnce().ok());
  r.ratio_after = FsUsageRatio(root);
  r.deleted_after = ev->metrics().bytes_evicted->value() - r.deleted;
  return r;
}

TEST(EvictorFreeLag, DeletesWhatWasNeededWhileStatvfsLags) {
  if (!TmpfsMount("1m").ok()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
  LagRun r = EvictWhileStatvfsLags(900);
  ASSERT_GT(r.needed, 0u);
  RecordProperty("needed_bytes", std::to_string(r.needed));
  RecordProperty("deleted_bytes", std::to_string(r.deleted));
  EXPECT_GE(r.deleted, r.needed);
  EXPECT_LE(r.deleted, r.needed + r.needed / 10 + kChunk) << "needed " << r.needed;
  EXPECT_EQ(r.pending, r.deleted);  // statvfs showed none of it yet
  EXPECT_LE(r.overshoot, r.needed / 10 + kChunk);
  // Once statvfs shows the frees, the estimate is reconciled away and the
  // tree sits near the low mark, nothing more deleted.
  EXPECT_EQ(r.deleted_after, 0u);
  EXPECT_LE(r.ratio_after, kLow + 0.01);
  EXPECT_GE(r.ratio_after, kLow - 0.05);
}

TEST(EvictorFreeLag, WithoutTheEstimateEveryPassDeletesAgain) {
  if (!TmpfsMount("1m").ok()) GTEST_SKIP() << "cannot mount tmpfs (needs root)";
  LagRun r = EvictWhileStatvfsLags(0);  // --free-lag 0: trust statvfs
  ASSERT_GT(r.needed, 0u);
  RecordProperty("needed_bytes", std::to_string(r.needed));
  RecordProperty("deleted_bytes", std::to_string(r.deleted));
  EXPECT_GE(r.deleted, 3 * r.needed);  // the overshoot the estimate prevents
  EXPECT_EQ(r.pending, 0u);
  EXPECT_GE(r.overshoot, 2 * r.needed);
}

TEST(PendingFreeRule, DropsReconcileAndOldEntriesExpire) {
  PendingFree p(100, 2);
  EXPECT_EQ(p.Observe(1000, 0), 0u);
  p.Add(50, 10);
  p.Add(30, 20);
  EXPECT_EQ(p.Observe(1000, 30), 160u);  // nothing shown: 80 here, 80 for the peer
  EXPECT_EQ(p.Observe(940, 40), 100u);   // a drop of 60: 30 of it ours
  EXPECT_EQ(p.Observe(990, 50), 100u);   // usage rising hides nothing already counted
  EXPECT_EQ(p.Observe(990, 115), 60u);   // the entry of t=10 (20 left) expired
  EXPECT_EQ(p.Observe(990, 125), 0u);
}

}  // namespace
}  // namespace kvtier::evictor
