// LeafDirs and LeafEnv: a leaf is opened once and reused for its ttl, a
// handle to a removed leaf never answers "present" and is replaced once its
// ttl has passed, the table stays within its bound, and chunk opens (only
// those) go through the held handles.
#include "store/leaf_dirs.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;

constexpr uint64_t kTtl = 1000;  // ns, on the clock the test passes in

// Counts the path walks LeafDirs makes (OpenDir) and the opens by path.
class CountingEnv final : public EnvWrapper {
 public:
  CountingEnv() : EnvWrapper(Env::Default()) {}
  Status OpenDir(const std::string& path, std::unique_ptr<Dir>* out) override {
    ++open_dirs;
    return EnvWrapper::OpenDir(path, out);
  }
  Status OpenFile(const std::string& path, unsigned flags, std::unique_ptr<File>* out) override {
    ++open_files;
    return EnvWrapper::OpenFile(path, flags, out);
  }
  std::atomic<int> open_dirs{0};
  std::atomic<int> open_files{0};
};

void Touch(const fs::path& p) { std::ofstream(p) << "x"; }

ChunkLocation Loc(const std::string& ns, const std::string& leaf, const std::string& name) {
  return ChunkLocation{ns + "/" + leaf, name, ns + "/" + leaf + "/" + name};
}

TEST(LeafDirs, OneWalkPerLeafWhileFresh) {
  ScratchDir dir;
  const std::string ns = dir.path() + "/ns";
  fs::create_directories(ns + "/ab/cd");
  Touch(ns + "/ab/cd/k1.kv");
  CountingEnv env;
  LeafDirs leaves(&env, kTtl, 16);
  FileInfo info;
  EXPECT_TRUE(leaves.Stat(Loc(ns, "ab/cd", "k1.kv"), 0, &info).ok());
  EXPECT_TRUE(info.IsRegular());
  EXPECT_TRUE(leaves.Stat(Loc(ns, "ab/cd", "k2.kv"), 10, &info).IsNotFound());
  EXPECT_TRUE(leaves.Stat(Loc(ns, "ab/cd", "k1.kv"), kTtl - 1, &info).ok());
  EXPECT_EQ(env.open_dirs, 1);
  EXPECT_TRUE(leaves.Stat(Loc(ns, "ab/cd", "k1.kv"), kTtl, &info).ok());  // expired
  EXPECT_EQ(env.open_dirs, 2);
  // A missing leaf is a miss and is not held.
  EXPECT_TRUE(leaves.Stat(Loc(ns, "ee/ff", "k3.kv"), kTtl, &info).IsNotFound());
  EXPECT_EQ(leaves.size(), 1u);
}

TEST(LeafDirs, RemovedLeafIsAMissUntilItsHandleExpires) {
  ScratchDir dir;
  const std::string ns = dir.path() + "/ns";
  fs::create_directories(ns + "/ab/cd");
  Touch(ns + "/ab/cd/k.kv");
  CountingEnv env;
  LeafDirs leaves(&env, kTtl, 16);
  FileInfo info;
  ASSERT_TRUE(leaves.Stat(Loc(ns, "ab/cd", "k.kv"), 0, &info).ok());
  // Another node deletes the chunk and the leaf; another stores it again.
  fs::remove_all(ns + "/ab/cd");
  EXPECT_TRUE(leaves.Stat(Loc(ns, "ab/cd", "k.kv"), 1, &info).IsNotFound());
  fs::create_directories(ns + "/ab/cd");
  Touch(ns + "/ab/cd/k.kv");
  // Within the ttl the held handle names the removed directory: stale miss.
  EXPECT_TRUE(leaves.Stat(Loc(ns, "ab/cd", "k.kv"), kTtl - 1, &info).IsNotFound());
  // Past it the leaf is walked again and the chunk is found.
  EXPECT_TRUE(leaves.Stat(Loc(ns, "ab/cd", "k.kv"), kTtl, &info).ok());
}

TEST(LeafDirs, TableStaysWithinItsBound) {
  ScratchDir dir;
  const std::string ns = dir.path() + "/ns";
  CountingEnv env;
  LeafDirs leaves(&env, kTtl, 4);
  FileInfo info;
  for (int i = 0; i < 10; ++i) {
    std::string leaf = "0";
    leaf += std::to_string(i);
    leaf += "/aa";
    fs::create_directories(ns + "/" + leaf);
    EXPECT_TRUE(leaves.Stat(Loc(ns, leaf, "x.kv"), 0, &info).IsNotFound());
    EXPECT_LE(leaves.size(), 4u);
  }
  // No caching at all with a ttl of 0: every call walks.
  LeafDirs uncached(&env, 0, 4);
  const int before = env.open_dirs;
  EXPECT_TRUE(uncached.Stat(Loc(ns, "00/aa", "x.kv"), 0, &info).IsNotFound());
  EXPECT_TRUE(uncached.Stat(Loc(ns, "00/aa", "x.kv"), 0, &info).IsNotFound());
  EXPECT_EQ(env.open_dirs - before, 2);
  EXPECT_EQ(uncached.size(), 0u);
}

// Sets the soft descriptor limit for a scope, then puts it back.
class SoftFdLimit {
 public:
  explicit SoftFdLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    struct rlimit lim = saved_;
    lim.rlim_cur = soft;
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
  }
  ~SoftFdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  struct rlimit saved_ {};
  bool ok_ = false;
};

TEST(LeafDirs, HoldsAnEighthOfTheDescriptorLimitAndGivesThemBackWhenOut) {
  ScratchDir dir;
  const std::string ns = dir.path() + "/ns";
  for (int i = 0; i < 40; ++i) {
    std::string leaf = ns + "/aa/";
    leaf += std::to_string(10 + i);
    fs::create_directories(leaf);
    Touch(leaf + "/k.kv");
  }
  CountingEnv env;
  {
    SoftFdLimit limit(160);
    ASSERT_TRUE(limit.ok());
    LeafDirs leaves(&env, kTtl, 512);  // 160 / 8 = 20 at most
    FileInfo info;
    for (int i = 0; i < 40; ++i) {
      EXPECT_TRUE(leaves.Stat(Loc(ns, "aa/" + std::to_string(10 + i), "k.kv"), 0, &info).ok());
      EXPECT_LE(leaves.size(), 20u);
    }
  }
  // A table allowed more than the process has left: when the next open
  // finds no descriptor, the held ones are given back and it succeeds.
  LeafDirs leaves(&env, kTtl, 512);
  FileInfo info;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(leaves.Stat(Loc(ns, "aa/" + std::to_string(10 + i), "k.kv"), 0, &info).ok());
  }
  ASSERT_EQ(leaves.size(), 20u);
  // A limit at the lowest free descriptor: the next open fails (EMFILE).
  const int next = ::dup(0);
  ASSERT_GE(next, 0);
  ::close(next);
  SoftFdLimit limit(static_cast<rlim_t>(next));
  ASSERT_TRUE(limit.ok());
  EXPECT_TRUE(leaves.Stat(Loc(ns, "aa/45", "k.kv"), 0, &info).ok());
  EXPECT_EQ(leaves.size(), 1u);
}

TEST(LeafEnv, ChunkOpensGoThroughTheLeafOthersThroughTheBase) {
  ScratchDir dir;
  const std::string ns = dir.path() + "/ns";
  fs::create_directories(ns + "/ab/cd");
  Touch(ns + "/ab/cd/k1.kv");
  Touch(ns + "/ab/cd/k2.kv");
  Touch(ns + "/fingerprint.json");
  CountingEnv base;
  LeafDirs leaves(&base, 60'000'000'000LL, 16);
  LeafEnv env(&base, &leaves, ns);
  std::unique_ptr<File> f;
  EXPECT_TRUE(env.OpenFile(ns + "/ab/cd/k1.kv", kOpenRead, &f).ok());
  EXPECT_TRUE(env.OpenFile(ns + "/ab/cd/k2.kv", kOpenRead, &f).ok());
  EXPECT_TRUE(env.OpenFile(ns + "/ab/cd/k3.kv", kOpenRead, &f).IsNotFound());
  EXPECT_EQ(base.open_dirs, 1);
  EXPECT_EQ(base.open_files, 0);
  EXPECT_TRUE(env.OpenFile(ns + "/fingerprint.json", kOpenRead, &f).ok());
  EXPECT_TRUE(env.OpenFile(ns + "/ab/cd", kOpenRead, &f).ok());  // not a chunk path
  EXPECT_EQ(base.open_files, 2);
  // A symlink under a chunk name is refused through the handle as by path.
  fs::create_symlink("/etc/passwd", ns + "/ab/cd/link.kv");
  Status s = env.OpenFile(ns + "/ab/cd/link.kv", kOpenRead, &f);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.err(), ELOOP);
}

}  // namespace
}  // namespace kvtier
