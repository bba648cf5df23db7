// Env::Dir as a tree walk uses it: subdirectories opened from a parent,
// listed, stat'ed and removed, never through a symlink and never into
// another filesystem mounted inside the tree.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include "env/walk.h"
#include "kvtier/env.h"
#include "test_util.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;

std::vector<std::string> Names(const std::vector<DirEntry>& entries) {
  std::vector<std::string> names;
  for (const DirEntry& e : entries) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Dir, OpensListsStatsAndRemovesBelowARoot) {
  ScratchDir dir;
  fs::create_directories(dir.path() + "/a/b");
  fs::create_directories(dir.path() + "/a/empty");
  std::ofstream(dir.path() + "/a/b/f") << "data";
  std::unique_ptr<Dir> root, a, b;
  ASSERT_TRUE(Env::Default()->OpenDir(dir.path(), &root).ok());
  std::vector<DirEntry> entries;
  ASSERT_TRUE(root->List(&entries).ok());  // an O_PATH root is listed too
  EXPECT_EQ(Names(entries), std::vector<std::string>{"a"});
  ASSERT_TRUE(root->OpenDir("a", &a).ok());
  ASSERT_TRUE(a->List(&entries).ok());
  EXPECT_EQ(Names(entries), (std::vector<std::string>{"b", "empty"}));
  for (const DirEntry& e : entries) EXPECT_TRUE(MaybeDirectory(e.type));
  ASSERT_TRUE(a->OpenDir("b", &b).ok());
  // Listing twice gives the same entries (the descriptor is rewound).
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b->List(&entries).ok());
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].name, "f");
  }
  FileInfo info;
  ASSERT_TRUE(b->Stat("f", &info).ok());
  EXPECT_EQ(info.size, 4u);
  ASSERT_TRUE(b->StatSelf(&info).ok());
  EXPECT_TRUE(info.IsDirectory());
  EXPECT_EQ(b->OpenDir("f", &a).err(), ENOTDIR);
  EXPECT_TRUE(b->OpenDir("missing", &a).IsNotFound());
  EXPECT_FALSE(b->OpenDir("..", &a).ok());
  EXPECT_FALSE(b->OpenDir("x/y", &a).ok());
  EXPECT_EQ(root->OpenDir("a", &a).ok(), true);
  EXPECT_EQ(a->RemoveDir("b").err(), ENOTEMPTY);
  ASSERT_TRUE(a->RemoveDir("empty").ok());
  EXPECT_FALSE(fs::exists(dir.path() + "/a/empty"));
  ASSERT_TRUE(b->Unlink("f").ok());
  ASSERT_TRUE(a->RemoveDir("b").ok());
}

TEST(Dir, NeverOpensASymlinkedDirectory) {
  ScratchDir dir, outside;
  std::ofstream(outside.path() + "/secret") << "secret";
  fs::create_directory_symlink(outside.path(), dir.path() + "/link");
  std::unique_ptr<Dir> root, child;
  ASSERT_TRUE(Env::Default()->OpenDir(dir.path(), &root).ok());
  Status s = root->OpenDir("link", &child);
  EXPECT_TRUE(s.err() == ELOOP || s.err() == ENOTDIR) << s.ToString();
  // A walk leaves it out quietly: it is not part of the tree.
  Status error;
  EXPECT_FALSE(OpenForWalk(root.get(), "link", &child, &error));
  EXPECT_TRUE(error.ok());
  std::vector<DirEntry> entries;
  ASSERT_TRUE(root->List(&entries).ok());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].type, DirEntry::Type::kSymlink);
  // Removing "link" as a directory fails; unlinking removes the link only.
  EXPECT_FALSE(root->RemoveDir("link").ok());
  ASSERT_TRUE(root->Unlink("link").ok());
  EXPECT_TRUE(fs::exists(outside.path() + "/secret"));
}

TEST(Dir, NeverEntersAnotherFilesystem) {
  ScratchDir dir;
  fs::create_directories(dir.path() + "/mnt");
  if (::mount("tmpfs", (dir.path() + "/mnt").c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount tmpfs (needs root)";
  }
  std::unique_ptr<Dir> root, child;
  Status s;
  EXPECT_TRUE(Env::Default()->OpenDir(dir.path(), &root).ok());
  if (root) s = root->OpenDir("mnt", &child);
  ::umount2((dir.path() + "/mnt").c_str(), MNT_DETACH);
  EXPECT_EQ(s.err(), EXDEV) << s.ToString();
  // A walk reports it: it is part of the tree, and it was not read.
  ASSERT_TRUE(::mount("tmpfs", (dir.path() + "/mnt").c_str(), "tmpfs", 0, "size=1m") == 0);
  Status error;
  bool opened = OpenForWalk(root.get(), "mnt", &child, &error);
  ::umount2((dir.path() + "/mnt").c_str(), MNT_DETACH);
  EXPECT_FALSE(opened);
  EXPECT_EQ(error.err(), EXDEV);
}

}  // namespace
}  // namespace kvtier
