// WalkChunkTree (what `kvtier stat` and `kvtier verify` walk with): every
// chunk of a readable tree is visited, and a directory that cannot be read
// is reported, never passed over in silence.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <set>

#include "env/fault_injection_env.h"
#include "layout/layout.h"
#include "store/chunk_verify.h"
#include "test_util.h"

namespace kvtier {
namespace {

using test::OpenStore;
using test::Payload;
using test::ScratchDir;

class ChunkWalk : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    root_ = std::filesystem::canonical(dir_.path()).string();
    auto store = OpenStore(root_);
    ASSERT_TRUE(store);
    std::vector<char> data = Payload(1000, 1);
    for (int i = 0; i < 20; ++i) {
      std::string key = "key" + std::to_string(i);
      ASSERT_TRUE(store->Put(key, data.data(), data.size()));
      paths_.insert(LocateChunk(store->namespace_dir(), key).path);
    }
  }

  void Walk(Env* env) {
    visited_.clear();
    unreadable_.clear();
    Status s = WalkChunkTree(
        env, root_,
        [&](const std::string&, const std::string& path, const std::string&, const FileInfo&) {
          visited_.insert(path);
        },
        [&](const std::string& path, const Status& error) {
          unreadable_.push_back(path);
          EXPECT_EQ(error.err(), GetParam()) << error.ToString();
        });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  ScratchDir dir_;
  std::string root_;
  std::set<std::string> paths_, visited_;
  std::vector<std::string> unreadable_;
};

TEST_P(ChunkWalk, ReportsWhatItCouldNotList) {
  Walk(Env::Default());
  EXPECT_EQ(visited_, paths_);
  EXPECT_TRUE(unreadable_.empty());

  // One fan-out directory (<ns>/<aa>) cannot be listed.
  const std::string first = *paths_.begin();
  const std::string fan_dir = first.substr(0, first.find_last_of('/'));
  const std::string aa_dir = fan_dir.substr(0, fan_dir.find_last_of('/'));
  FaultInjectionEnv env(Env::Default());
  env.SetErrorScope(aa_dir);
  env.SetError(FaultOp::kList, GetParam());
  Walk(&env);
  EXPECT_EQ(unreadable_, std::vector<std::string>{aa_dir});
  for (const std::string& p : paths_) {
    bool below = p.compare(0, aa_dir.size() + 1, aa_dir + "/") == 0;
    EXPECT_EQ(visited_.count(p), below ? 0u : 1u) << p;
  }
  // A leaf directory, then the entries' stat.
  env.SetErrorScope(fan_dir);
  Walk(&env);
  EXPECT_EQ(unreadable_, std::vector<std::string>{fan_dir});
  env.ClearErrors();
  env.SetError(FaultOp::kStat, GetParam());
  Walk(&env);
  EXPECT_EQ(visited_.count(first), 0u);
  EXPECT_FALSE(unreadable_.empty());
  EXPECT_EQ(visited_.size() + unreadable_.size(), paths_.size());
  // The root itself: the walk fails.
  env.ClearErrors();
  env.SetErrorScope("");
  env.SetError(FaultOp::kList, GetParam());
  EXPECT_FALSE(WalkChunkTree(
                   &env, root_, [](auto&, auto&, auto&, auto&) {}, [](auto&, auto&) {})
                   .ok());
}

INSTANTIATE_TEST_SUITE_P(Errno, ChunkWalk, ::testing::Values(EIO, EACCES));

}  // namespace
}  // namespace kvtier
