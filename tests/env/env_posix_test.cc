#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "kvtier/env.h"
#include "test_util.h"

namespace kvtier {
namespace {

using testing::ScratchDir;

void WriteFile(const std::string& path, const std::string& data) { std::ofstream(path) << data; }

TEST(PosixEnv, NeverFollowsSymlinksAnywhereInAPath) {
  ScratchDir inside, outside;
  Env* env = Env::Default();
  WriteFile(outside.path() + "/secret", "secret");
  ASSERT_EQ(::symlink(outside.path().c_str(), (inside.path() + "/link").c_str()), 0);
  ASSERT_EQ(::symlink((outside.path() + "/secret").c_str(), (inside.path() + "/flink").c_str()), 0);

  std::unique_ptr<File> f;
  Status s = env->OpenFile(inside.path() + "/link/secret", kOpenRead, &f);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.err(), ELOOP);
  s = env->OpenFile(inside.path() + "/flink", kOpenRead, &f);
  EXPECT_EQ(s.err(), ELOOP);
  // Writes, deletes and renames through a linked directory fail too.
  s = env->OpenFile(inside.path() + "/link/new", kOpenWrite | kOpenCreateExclusive, &f);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(env->Unlink(inside.path() + "/link/secret").ok());
  EXPECT_FALSE(env->Rename(inside.path() + "/link/secret", inside.path() + "/stolen", false).ok());
  EXPECT_FALSE(env->SetAccessTime(inside.path() + "/link/secret", 0).ok());
  struct stat st;
  EXPECT_EQ(::stat((outside.path() + "/secret").c_str(), &st), 0);  // untouched
  EXPECT_EQ(::access((outside.path() + "/new").c_str(), F_OK), -1);

  FileInfo info;
  ASSERT_TRUE(env->Stat(inside.path() + "/flink", &info).ok());
  EXPECT_TRUE(info.IsSymlink());
  // Unlinking a symlink removes the link, never its target.
  ASSERT_TRUE(env->Unlink(inside.path() + "/flink").ok());
  EXPECT_EQ(::stat((outside.path() + "/secret").c_str(), &st), 0);
}

TEST(PosixEnv, FilesDirsAndRename) {
  ScratchDir dir;
  Env* env = Env::Default();
  std::string a = dir.path() + "/a", b = dir.path() + "/b";
  std::unique_ptr<File> f;
  ASSERT_TRUE(env->OpenFile(a, kOpenWrite | kOpenCreateExclusive, &f).ok());
  char data[] = "hello world";
  struct iovec iov[2] = {{data, 5}, {data + 5, 6}};
  ASSERT_TRUE(f->WriteV(0, iov, 2).ok());
  EXPECT_EQ(env->OpenFile(a, kOpenWrite | kOpenCreateExclusive, &f).err(), EEXIST);
  ASSERT_TRUE(env->OpenFile(a, kOpenRead, &f).ok());
  char back[32] = {};
  struct iovec rv = {back, sizeof(back)};
  size_t got = 0;
  ASSERT_TRUE(f->ReadV(0, &rv, 1, &got).ok());
  EXPECT_EQ(got, 11u);
  EXPECT_EQ(std::string(back, got), "hello world");

  WriteFile(b, "x");
  Status s = env->Rename(a, b, /*no_replace=*/true);
  EXPECT_EQ(s.err(), EEXIST);
  ASSERT_TRUE(env->Rename(a, b, /*no_replace=*/false).ok());
  EXPECT_TRUE(env->Stat(a, &*std::make_unique<FileInfo>()).IsNotFound());

  ASSERT_TRUE(env->CreateDir(dir.path() + "/d").ok());
  ASSERT_TRUE(env->CreateDir(dir.path() + "/d").ok());  // idempotent
  EXPECT_FALSE(env->CreateDir(b).ok());                 // a file is in the way
  std::vector<DirEntry> entries;
  ASSERT_TRUE(env->ListDir(dir.path(), &entries).ok());
  EXPECT_EQ(entries.size(), 2u);
  EXPECT_FALSE(env->Unlink(dir.path() + "/..").ok());

  ASSERT_TRUE(env->SetAccessTime(b, 1000000000LL * 1000).ok());
  FileInfo info;
  ASSERT_TRUE(env->Stat(b, &info).ok());
  EXPECT_EQ(info.atime_ns, 1000000000LL * 1000);
  FsUsage usage;
  ASSERT_TRUE(env->GetFsUsage(dir.path(), &usage).ok());
  EXPECT_GT(usage.total_bytes, 0u);
}

TEST(PosixEnv, FifoDoesNotBlockAReader) {
  ScratchDir dir;
  std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::unique_ptr<File> f;
  Status s = Env::Default()->OpenFile(fifo, kOpenRead, &f);  // must return at once
  if (s.ok()) {
    FileInfo info;
    ASSERT_TRUE(f->Stat(&info).ok());
    EXPECT_FALSE(info.IsRegular());
  }
}

}  // namespace
}  // namespace kvtier
