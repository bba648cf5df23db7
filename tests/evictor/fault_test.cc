// The evictor through a fault-injecting Env: a directory that cannot be
// listed is skipped and counted, an unlink that fails is counted, and
// neither stops the pass (no chmod, so these run as root too).
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <mutex>
#include <vector>

#include "env/fault_injection_env.h"
#include "evictor_test_util.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT

class EvictorFaults : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    // Resolved, as the evictor resolves it, so the fault scopes below match.
    root_ = std::filesystem::canonical(dir_.path()).string() + "/cache";
    MkdirAll(root_);
    ns_ = MakeKvtierNamespace(root_);
    const int64_t old = WallNs() - 86400 * kSec;
    for (int i = 0; i < 40; ++i) {
      chunks_.push_back(WriteKvtierChunk(ns_, "key" + std::to_string(i), 100, old + i * kSec, old));
    }
    logger_.set_level(LogLevel::kWarn);
    logger_.set_sink([this](const std::string& line) {
      std::lock_guard<std::mutex> l(mu_);
      lines_.push_back(line);
    });
  }

  // One pass that wants everything gone, through the fault env.
  std::unique_ptr<Evictor> EvictAll() {
    EvictorOptions o = TestOptions(root_, &logger_);
    o.env = &env_;
    return test::EvictAll(o);
  }

  size_t LinesWith(const std::string& what) {
    std::lock_guard<std::mutex> l(mu_);
    size_t n = 0;
    for (const std::string& line : lines_) n += line.find(what) != std::string::npos;
    return n;
  }

  // The fan-out directory <ns>/<aa> that holds chunks_[0].
  std::string FirstFanout() const { return ns_ + "/" + chunks_[0].substr(ns_.size() + 1, 2); }
  bool Below(const std::string& path, const std::string& dir) const {
    return path.compare(0, dir.size() + 1, dir + "/") == 0;
  }

  ScratchDir dir_;
  FaultInjectionEnv env_{Env::Default()};
  Logger logger_;
  std::mutex mu_;
  std::vector<std::string> lines_;
  std::string root_, ns_;
  std::vector<std::string> chunks_;
};

TEST_P(EvictorFaults, UnlistableDirectoryIsSkippedAndCounted) {
  const std::string fan = FirstFanout();
  env_.SetErrorScope(fan);
  env_.SetError(FaultOp::kList, GetParam());
  auto ev = EvictAll();
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->healthy());
  EXPECT_GE(ev->metrics().errors->value(), 1u);
  EXPECT_GE(LinesWith("skipping directory"), 1u);
  EXPECT_GE(LinesWith(fan.substr(root_.size() + 1)), 1u);
  size_t kept = 0;
  for (const std::string& c : chunks_) {
    if (Below(c, fan)) {
      EXPECT_TRUE(Exists(c)) << c;  // never listed, so never deleted
      ++kept;
    } else {
      EXPECT_FALSE(Exists(c)) << c;
    }
  }
  EXPECT_GE(kept, 1u);
  EXPECT_EQ(ev->metrics().files_evicted->value(), chunks_.size() - kept);
}

TEST_P(EvictorFaults, FailedUnlinksAreCountedNotFatal) {
  const std::string fan = FirstFanout();
  env_.SetErrorScope(fan);
  env_.SetError(FaultOp::kUnlink, GetParam());
  auto ev = EvictAll();
  ASSERT_TRUE(ev);
  size_t kept = 0;
  for (const std::string& c : chunks_) {
    if (Below(c, fan)) {
      EXPECT_TRUE(Exists(c)) << c;
      ++kept;
    } else {
      EXPECT_FALSE(Exists(c)) << c;  // the pass went on past the failures
    }
  }
  ASSERT_GE(kept, 1u);
  EXPECT_EQ(ev->metrics().errors->value(), kept);
  EXPECT_EQ(LinesWith("cannot evict"), kept);
  EXPECT_EQ(ev->metrics().files_evicted->value(), chunks_.size() - kept);
  // Once the filesystem lets go, the next pass deletes them.
  env_.ClearErrors();
  ASSERT_TRUE(ev->RunOnce().ok());
  for (const std::string& c : chunks_) EXPECT_FALSE(Exists(c)) << c;
}

// --once (a CronJob, or a check after deploying) fails when the round
// deleted nothing because every unlink failed, not when only some did.
TEST_P(EvictorFaults, OnceFailsWhenEveryDeleteFailed) {
  EvictorOptions o = TestOptions(root_, &logger_);
  o.env = &env_;
  o.config.quota_bytes = 1;
  o.config.low_watermark = 0;
  o.config.once = true;
  env_.SetErrorScope(ns_);
  env_.SetError(FaultOp::kUnlink, GetParam());
  std::unique_ptr<Evictor> ev;
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  Status s = ev->Run();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("every delete"), std::string::npos) << s.ToString();
  for (const std::string& c : chunks_) EXPECT_TRUE(Exists(c)) << c;

  env_.SetErrorScope(FirstFanout());  // now only some fail
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  s = ev->Run();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(ev->metrics().files_evicted->value(), 1u);
  EXPECT_GE(ev->metrics().errors->value(), 1u);
}

TEST_P(EvictorFaults, UnlistableRootFailsThePass) {
  std::unique_ptr<Evictor> ev;
  EvictorOptions o = TestOptions(root_, &logger_);
  o.env = &env_;
  o.config.quota_bytes = 1;
  o.config.low_watermark = 0;
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  env_.SetError(FaultOp::kList, GetParam());
  EXPECT_FALSE(ev->RunOnce().ok());
  EXPECT_FALSE(ev->healthy());
  for (const std::string& c : chunks_) EXPECT_TRUE(Exists(c)) << c;
  // And at start-up it is a configuration error.
  std::unique_ptr<Evictor> ev2;
  EXPECT_FALSE(Evictor::Open(o, &ev2).ok());
}

INSTANTIATE_TEST_SUITE_P(Errno, EvictorFaults, ::testing::Values(EIO, EACCES));

}  // namespace
}  // namespace kvtier::evictor
