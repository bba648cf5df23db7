// LeafDirs and LeafEnv: a leaf is opened once and reused for its ttl, a new
// leaf is opened through its parent's held handle, a handle to a removed
// leaf (or parent) never answers "present" and is replaced once its ttl has
// passed, the table stays within its bound, and chunk opens (only those) go
// through the held handles.
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
using test::ScratchDir;

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

// A scratch namespace directory ns_, an env that counts walks and opens,
// and chunk paths in ns_ by leaf and name.
class LeafDirsTest : public ::testing::Test {
 protected:
  // Makes the leaf directory ns_/<leaf> and, given a name, a chunk in it.
  void Add(const std::string& leaf, const std::string& chunk = "") {
    fs::create_directories(ns_ + "/" + leaf);
    if (!chunk.empty()) Touch(ns_ + "/" + leaf + "/" + chunk);
  }
  ChunkLocation Loc(const std::string& leaf, const std::string& name) const {
    return ChunkLocation{ns_ + "/" + leaf, name, ns_ + "/" + leaf + "/" + name};
  }
  // Stat of ns_/<leaf>/<name> through `leaves` at time `now`, into info_.
  Status Stat(LeafDirs& leaves, const std::string& leaf, const std::string& name, uint64_t now) {
    return leaves.Stat(Loc(leaf, name), now, &info_);
  }

  ScratchDir dir_;
  const std::string ns_ = dir_.path() + "/ns";
  CountingEnv env_;
  FileInfo info_;
};

TEST_F(LeafDirsTest, OneWalkPerLeafWhileFresh) {
  Add("ab/cd", "k1.kv");
  LeafDirs leaves(&env_, kTtl, 16, 4);
  EXPECT_TRUE(Stat(leaves, "ab/cd", "k1.kv", 0).ok());
  EXPECT_TRUE(info_.IsRegular());
  EXPECT_TRUE(Stat(leaves, "ab/cd", "k2.kv", 10).IsNotFound());
  EXPECT_TRUE(Stat(leaves, "ab/cd", "k1.kv", kTtl - 1).ok());
  EXPECT_EQ(env_.open_dirs, 1);
  EXPECT_TRUE(Stat(leaves, "ab/cd", "k1.kv", kTtl).ok());  // expired
  EXPECT_EQ(env_.open_dirs, 2);
  // A missing leaf is a miss and is not held (the table holds ab/cd and
  // its parent ab).
  EXPECT_TRUE(Stat(leaves, "ee/ff", "k3.kv", kTtl).IsNotFound());
  EXPECT_EQ(leaves.size(), 2u);
}

// Without descriptors to spare for parents (fewer than twice their number
// in the share), every new leaf walks its path, as before parents were held.
TEST_F(LeafDirsTest, NoParentHandlesWhereTheShareIsSmall) {
  for (const char* leaf : {"ab/c1", "ab/c2"}) Add(leaf, "k.kv");
  LeafDirs leaves(&env_, kTtl, 16, 9);
  EXPECT_TRUE(Stat(leaves, "ab/c1", "k.kv", 0).ok());
  EXPECT_TRUE(Stat(leaves, "ab/c2", "k.kv", 1).ok());
  EXPECT_EQ(env_.open_dirs, 2);
  EXPECT_EQ(leaves.size(), 2u);
}

// A leaf not yet held is opened relative to its parent's held handle: no
// walk from the root (on a network filesystem, no lookups of ns and aa).
TEST_F(LeafDirsTest, NewLeavesOpenThroughTheirParentsHandle) {
  for (const char* leaf : {"ab/c1", "ab/c2", "ab/c3"}) Add(leaf, "k.kv");
  LeafDirs leaves(&env_, kTtl, 16, 4);
  EXPECT_TRUE(Stat(leaves, "ab/c1", "k.kv", 0).ok());
  EXPECT_TRUE(Stat(leaves, "ab/c2", "k.kv", 1).ok());
  EXPECT_TRUE(Stat(leaves, "ab/c3", "x.kv", 2).IsNotFound());
  EXPECT_TRUE(Stat(leaves, "ab/c9", "k.kv", 3).IsNotFound());  // no such leaf
  EXPECT_EQ(env_.open_dirs, 1);                                // the parent, once
  EXPECT_EQ(leaves.size(), 4u);                                // ab and three leaves

  // Another node removes the whole fan-out directory and a writer makes it
  // again: through the stale parent the new leaf is a miss within the ttl,
  // never a wrong answer, and found once the parent is walked again.
  fs::remove_all(ns_ + "/ab");
  Add("ab/c4", "k.kv");
  EXPECT_TRUE(Stat(leaves, "ab/c4", "k.kv", kTtl - 1).IsNotFound());
  EXPECT_TRUE(Stat(leaves, "ab/c4", "k.kv", kTtl).ok());
  EXPECT_EQ(env_.open_dirs, 2);
}

TEST_F(LeafDirsTest, RemovedLeafIsAMissUntilItsHandleExpires) {
  Add("ab/cd", "k.kv");
  LeafDirs leaves(&env_, kTtl, 16, 4);
  ASSERT_TRUE(Stat(leaves, "ab/cd", "k.kv", 0).ok());
  // Another node deletes the chunk and the leaf; another stores it again.
  fs::remove_all(ns_ + "/ab/cd");
  EXPECT_TRUE(Stat(leaves, "ab/cd", "k.kv", 1).IsNotFound());
  Add("ab/cd", "k.kv");
  // Within the ttl the held handle names the removed directory: stale miss.
  EXPECT_TRUE(Stat(leaves, "ab/cd", "k.kv", kTtl - 1).IsNotFound());
  // Past it the leaf is walked again and the chunk is found.
  EXPECT_TRUE(Stat(leaves, "ab/cd", "k.kv", kTtl).ok());
}

TEST_F(LeafDirsTest, TableStaysWithinItsBound) {
  LeafDirs leaves(&env_, kTtl, 4, 1);
  for (int i = 0; i < 10; ++i) {
    std::string leaf = "0";
    leaf += std::to_string(i);
    leaf += "/aa";
    Add(leaf);
    EXPECT_TRUE(Stat(leaves, leaf, "x.kv", 0).IsNotFound());
    EXPECT_LE(leaves.size(), 4u);
  }
  // No caching at all with a ttl of 0: every call walks.
  LeafDirs uncached(&env_, 0, 4, 1);
  const int before = env_.open_dirs;
  EXPECT_TRUE(Stat(uncached, "00/aa", "x.kv", 0).IsNotFound());
  EXPECT_TRUE(Stat(uncached, "00/aa", "x.kv", 0).IsNotFound());
  EXPECT_EQ(env_.open_dirs - before, 2);
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

TEST_F(LeafDirsTest, HoldsAnEighthOfTheDescriptorLimitAndGivesThemBackWhenOut) {
  for (int i = 0; i < 40; ++i) Add("aa/" + std::to_string(10 + i), "k.kv");
  {
    SoftFdLimit limit(160);
    ASSERT_TRUE(limit.ok());
    LeafDirs leaves(&env_, kTtl, 512, 4);  // 160 / 8 = 20 at most
    for (int i = 0; i < 40; ++i) {
      EXPECT_TRUE(Stat(leaves, "aa/" + std::to_string(10 + i), "k.kv", 0).ok());
      EXPECT_LE(leaves.size(), 20u);
    }
  }
  // A table allowed more than the process has left: when the next open
  // finds no descriptor, the held ones are given back and it succeeds.
  LeafDirs leaves(&env_, kTtl, 512, 4);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Stat(leaves, "aa/" + std::to_string(10 + i), "k.kv", 0).ok());
  }
  ASSERT_EQ(leaves.size(), 21u);  // and their parent
  // A limit at the lowest free descriptor: the next open fails (EMFILE).
  const int next = ::dup(0);
  ASSERT_GE(next, 0);
  ::close(next);
  SoftFdLimit limit(static_cast<rlim_t>(next));
  ASSERT_TRUE(limit.ok());
  EXPECT_TRUE(Stat(leaves, "aa/45", "k.kv", 0).ok());
  // The parent's handle was given back first, which was enough here: the
  // leaf opened by path in its descriptor.
  EXPECT_EQ(leaves.size(), 21u);
  // With nothing left to give back but leaves, they go too.
  EXPECT_TRUE(Stat(leaves, "aa/46", "k.kv", 0).ok());
  EXPECT_LE(leaves.size(), 3u);
}

using LeafEnvTest = LeafDirsTest;

TEST_F(LeafEnvTest, ChunkOpensGoThroughTheLeafOthersThroughTheBase) {
  Add("ab/cd", "k1.kv");
  Add("ab/cd", "k2.kv");
  Touch(ns_ + "/fingerprint.json");
  LeafDirs leaves(&env_, 60'000'000'000LL, 16, 4);
  LeafEnv env(&env_, &leaves, ns_);
  std::unique_ptr<File> f;
  EXPECT_TRUE(env.OpenFile(ns_ + "/ab/cd/k1.kv", kOpenRead, &f).ok());
  EXPECT_TRUE(env.OpenFile(ns_ + "/ab/cd/k2.kv", kOpenRead, &f).ok());
  EXPECT_TRUE(env.OpenFile(ns_ + "/ab/cd/k3.kv", kOpenRead, &f).IsNotFound());
  EXPECT_EQ(env_.open_dirs, 1);
  EXPECT_EQ(env_.open_files, 0);
  EXPECT_TRUE(env.OpenFile(ns_ + "/fingerprint.json", kOpenRead, &f).ok());
  EXPECT_TRUE(env.OpenFile(ns_ + "/ab/cd", kOpenRead, &f).ok());  // not a chunk path
  EXPECT_EQ(env_.open_files, 2);
  // A symlink under a chunk name is refused through the handle as by path.
  fs::create_symlink("/etc/passwd", ns_ + "/ab/cd/link.kv");
  Status s = env.OpenFile(ns_ + "/ab/cd/link.kv", kOpenRead, &f);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.err(), ELOOP);
}

}  // namespace
}  // namespace kvtier
