// Bad configuration ends with a clear error and a non-zero exit, before any
// deletion; the llm-d environment is honoured and flags override it.
#include "evictor/config.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <map>

#include "evictor/evictor_main.h"
#include "evictor_test_util.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT

int RunMain(std::vector<std::string> args) {
  args.insert(args.begin(), "kvtier-evictor");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return EvictorMain(static_cast<int>(args.size()), argv.data());
}

GetEnvFn FakeEnv(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

class EvictorConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v :
         {"PVC_MOUNT_PATH", "CACHE_DIRECTORY", "CLEANUP_THRESHOLD", "TARGET_THRESHOLD", "DRY_RUN",
          "LOG_LEVEL", "TOTAL_SHARDS", "SHARD_INDEX", "KVTIER_EVICTOR_ROOT"}) {
      ::unsetenv(v);
    }
    root_ = dir_.path() + "/cache";
    MkdirAll(root_);
    ns_ = MakeKvtierNamespace(root_);
    int64_t old = WallNs() - 86400 * kSec;
    for (int i = 0; i < 10; ++i) {
      chunks_.push_back(WriteKvtierChunk(ns_, "k" + std::to_string(i), 1000, old + i, old));
    }
  }
  int Remaining() const {
    int n = 0;
    for (const auto& c : chunks_) n += Exists(c);
    return n;
  }

  ScratchDir dir_;
  std::string root_, ns_;
  std::vector<std::string> chunks_;
};

TEST_F(EvictorConfig, ValidateRejectsBadValues) {
  Config c;
  c.root = root_;
  c.replica_index = 0;
  EXPECT_TRUE(Validate(c, Env::Default()).ok());
  c.low_watermark = 0.9;
  c.high_watermark = 0.8;
  Status s = Validate(c, Env::Default());
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("low watermark"), std::string::npos) << s.message();
  c = Config();
  c.replica_index = 0;
  c.root = root_ + "/missing";
  EXPECT_NE(Validate(c, Env::Default()).message().find("missing"), std::string::npos);
  c.root = ns_ + "/fingerprint.json";
  EXPECT_NE(Validate(c, Env::Default()).message().find("not a directory"), std::string::npos);
  c.root = root_;
  c.replicas = 2;
  c.replica_index = 2;
  EXPECT_FALSE(Validate(c, Env::Default()).ok());
}

TEST_F(EvictorConfig, MainExitsNonZeroAndDeletesNothing) {
  const std::vector<std::string> common = {"--once", "--port",        "0", "--min-age",
                                           "0",      "--quota-bytes", "1"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = common;
    a.insert(a.end(), extra.begin(), extra.end());
    return RunMain(a);
  };
  EXPECT_EQ(with({"--high", "0.5", "--low", "0.6", root_}), 2);
  EXPECT_EQ(with({root_ + "/missing"}), 2);
  EXPECT_EQ(with({ns_ + "/fingerprint.json"}), 2);
  EXPECT_EQ(with({"--replicas", "3", "--replica-index", "5", root_}), 2);
  EXPECT_EQ(with({"--high", "lots", root_}), 2);
  EXPECT_EQ(with({"--no-such-flag", root_}), 2);
  EXPECT_EQ(with({}), 2);  // no root at all
  EXPECT_EQ(Remaining(), 10);
  // The same command with a valid configuration does delete.
  EXPECT_EQ(with({"--low", "0", root_}), 0);
  EXPECT_EQ(Remaining(), 0);
}

TEST_F(EvictorConfig, EnvironmentOfLlmdPvcEvictor) {
  Config c;
  ASSERT_TRUE(ApplyEnvironment(FakeEnv({{"PVC_MOUNT_PATH", "/kv-cache"},
                                        {"CACHE_DIRECTORY", "kv/model-cache/models"},
                                        {"CLEANUP_THRESHOLD", "90.0"},
                                        {"TARGET_THRESHOLD", "75"},
                                        {"DRY_RUN", "true"},
                                        {"LOG_LEVEL", "DEBUG"}}),
                               &c)
                  .ok());
  EXPECT_EQ(c.root, "/kv-cache/kv/model-cache/models");
  EXPECT_DOUBLE_EQ(c.high_watermark, 0.90);
  EXPECT_DOUBLE_EQ(c.low_watermark, 0.75);
  EXPECT_TRUE(c.dry_run);
  EXPECT_EQ(c.log_level, "DEBUG");
  Status s = ApplyEnvironment(FakeEnv({{"CLEANUP_THRESHOLD", "lots"}}), &c);
  EXPECT_NE(s.message().find("CLEANUP_THRESHOLD"), std::string::npos);
  EXPECT_FALSE(ApplyEnvironment(FakeEnv({{"DRY_RUN", "maybe"}}), &c).ok());
}

TEST_F(EvictorConfig, ReplicaOrdinalFromPodName) {
  Config c;
  c.replicas = 4;
  ASSERT_TRUE(ResolveReplicaIndex(FakeEnv({{"POD_NAME", "kvtier-evictor-3"}}), &c).ok());
  EXPECT_EQ(c.replica_index, 3);
  c.replica_index = -1;
  ASSERT_TRUE(ResolveReplicaIndex(FakeEnv({{"HOSTNAME", "ev-1"}}), &c).ok());
  EXPECT_EQ(c.replica_index, 1);
  c.replica_index = -1;
  EXPECT_FALSE(ResolveReplicaIndex(FakeEnv({{"HOSTNAME", "node"}}), &c).ok());
  c.replica_index = 2;  // an explicit index wins
  ASSERT_TRUE(ResolveReplicaIndex(FakeEnv({{"POD_NAME", "x-0"}}), &c).ok());
  EXPECT_EQ(c.replica_index, 2);
}

TEST_F(EvictorConfig, FlagsOverrideEnvironment) {
  // The environment alone would delete everything (1% / 0%)...
  ::setenv("PVC_MOUNT_PATH", root_.c_str(), 1);
  ::setenv("CLEANUP_THRESHOLD", "1", 1);
  ::setenv("TARGET_THRESHOLD", "0", 1);
  // ...but the flags put the marks out of reach.
  EXPECT_EQ(RunMain({"--once", "--port", "0", "--min-age", "0", "--quota-bytes", "1T", "--high",
                     "99", "--low", "98"}),
            0);
  EXPECT_EQ(Remaining(), 10);
  ::setenv("DRY_RUN", "1", 1);
  EXPECT_EQ(RunMain({"--once", "--port", "0", "--min-age", "0", "--quota-bytes", "1"}), 0);
  EXPECT_EQ(Remaining(), 10);  // DRY_RUN from the environment
  ::unsetenv("DRY_RUN");
  EXPECT_EQ(RunMain({"--once", "--port", "0", "--min-age", "0", "--quota-bytes", "1"}), 0);
  EXPECT_EQ(Remaining(), 0);  // root and thresholds from the environment
}

// Runs EvictorMain in a child that cannot read `unreadable` (as nobody when
// we are root) and returns its exit status.
int RunMainUnprivileged(const std::vector<std::string>& args) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(99);
    ::_exit(RunMain(args));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

TEST_F(EvictorConfig, UnreadableDirectoryIsSkippedNotDeleted) {
  // Everything writable by the unprivileged child, except one fan-out dir.
  std::error_code ec;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
    std::filesystem::permissions(e.path(), std::filesystem::perms::all, ec);
  }
  std::filesystem::permissions(dir_.path(), std::filesystem::perms::all, ec);
  std::string locked_chunk = chunks_[0];
  std::string locked_fan = ns_ + "/" + locked_chunk.substr(ns_.size() + 1, 2);
  ASSERT_EQ(::chmod(locked_fan.c_str(), 0), 0);
  int rc = RunMainUnprivileged(
      {"--once", "--port", "0", "--min-age", "0", "--quota-bytes", "1", "--low", "0", root_});
  ::chmod(locked_fan.c_str(), 0755);
  ASSERT_NE(rc, 99) << "could not drop privileges";
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(Exists(locked_chunk));
  for (const auto& c : chunks_) {
    if (c.compare(0, locked_fan.size() + 1, locked_fan + "/") != 0) {
      EXPECT_FALSE(Exists(c)) << c;
    }
  }
}

TEST_F(EvictorConfig, UnreadableRootIsAnError) {
  std::error_code ec;
  std::filesystem::permissions(dir_.path(), std::filesystem::perms::all, ec);
  ASSERT_EQ(::chmod(root_.c_str(), 0), 0);
  int rc = RunMainUnprivileged(
      {"--once", "--port", "0", "--min-age", "0", "--quota-bytes", "1", "--low", "0", root_});
  ::chmod(root_.c_str(), 0755);
  ASSERT_NE(rc, 99);
  EXPECT_EQ(rc, 2);
  EXPECT_EQ(Remaining(), 10);
}

}  // namespace
}  // namespace kvtier::evictor
