// A cache root reached through a symlink (/scratch -> /lustre/scratch)
// works; symlinks below the resolved root are still refused.
#include "env/root_path.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "layout/layout.h"
#include "test_util.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;

// real/cache is the cache; "mount" links to real, "root" links to the
// cache itself: both a symlinked parent and a symlinked root.
class SymlinkedRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    real_ = fs::canonical(dir_.path()).string() + "/real";
    fs::create_directories(real_ + "/cache");
    ASSERT_EQ(::symlink(real_.c_str(), (dir_.path() + "/mount").c_str()), 0);
    ASSERT_EQ(::symlink((real_ + "/cache").c_str(), (dir_.path() + "/root").c_str()), 0);
  }
  ScratchDir dir_;
  std::string real_;
};

TEST_F(SymlinkedRoot, ResolvesTheRootItselfOnce) {
  std::string out;
  ASSERT_TRUE(ResolveRoot(dir_.path() + "/mount/cache", &out).ok());
  EXPECT_EQ(out, real_ + "/cache");
  ASSERT_TRUE(ResolveRoot(dir_.path() + "/root", &out).ok());
  EXPECT_EQ(out, real_ + "/cache");
  // The resolved root is usable by Env, which refuses every symlink.
  std::vector<DirEntry> entries;
  EXPECT_TRUE(Env::Default()->ListDir(out, &entries).ok());
  EXPECT_EQ(Env::Default()->ListDir(dir_.path() + "/mount/cache", &entries).err(), ELOOP);
  EXPECT_EQ(ResolveRoot(dir_.path() + "/missing", &out).err(), ENOENT);
  EXPECT_FALSE(ResolveRoot("", &out).ok());
}

TEST_F(SymlinkedRoot, FileKeepsItsLastComponentUnfollowed) {
  std::string out;
  ASSERT_TRUE(ResolveFileInRoot(dir_.path() + "/mount/cache/x.kv", &out).ok());
  EXPECT_EQ(out, real_ + "/cache/x.kv");
  // A link as the file itself stays a link: whoever opens it refuses it.
  ASSERT_TRUE(ResolveFileInRoot(dir_.path() + "/root", &out).ok());
  EXPECT_EQ(out, fs::canonical(dir_.path()).string() + "/root");
  FileInfo info;
  ASSERT_TRUE(Env::Default()->Stat(out, &info).ok());
  EXPECT_TRUE(info.IsSymlink());
  EXPECT_FALSE(ResolveFileInRoot(dir_.path() + "/mount/..", &out).ok());
}

TEST_F(SymlinkedRoot, StoreOpenPutGetThroughTheLink) {
  const std::vector<char> data = Payload(70000, 3);
  std::vector<char> out(data.size());
  {
    auto store = OpenStore(dir_.path() + "/mount/cache");
    ASSERT_TRUE(store);
    EXPECT_EQ(store->namespace_dir().rfind(real_ + "/cache/", 0), 0u) << store->namespace_dir();
    ASSERT_TRUE(store->Put("k", data.data(), data.size()));
    ASSERT_TRUE(store->Get("k", out.data(), out.size()));
    EXPECT_EQ(out, data);
    EXPECT_EQ(store->Contains({"k"}), std::vector<bool>{true});
  }
  // The same chunk through the other link and through the real path.
  for (const std::string& root : {dir_.path() + "/root", real_ + "/cache"}) {
    auto store = OpenStore(root);
    ASSERT_TRUE(store);
    std::fill(out.begin(), out.end(), 0);
    EXPECT_TRUE(store->Get("k", out.data(), out.size())) << root;
    EXPECT_EQ(out, data);
  }
}

TEST_F(SymlinkedRoot, SymlinksBelowTheRootAreStillRefused) {
  ScratchDir outside;
  const std::vector<char> data = Payload(5000, 4);
  auto store = OpenStore(dir_.path() + "/root");
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  // The chunk's leaf directory swapped for a link to a copy outside.
  std::string path = LocateChunk(store->namespace_dir(), "k").path;
  std::string leaf = fs::path(path).parent_path().string();
  fs::rename(leaf, outside.path() + "/moved");
  fs::create_symlink(outside.path() + "/moved", leaf);
  std::vector<char> out(data.size());
  EXPECT_FALSE(store->Get("k", out.data(), out.size()));
  EXPECT_FALSE(store->Put("k", data.data(), data.size()));
  EXPECT_TRUE(fs::exists(outside.path() + "/moved/" + fs::path(path).filename().string()));
}

}  // namespace
}  // namespace kvtier
