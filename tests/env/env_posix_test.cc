#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>

#include "kvtier/env.h"
#include "test_util.h"

namespace kvtier {
namespace {

using test::ScratchDir;

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

  ASSERT_TRUE(env->CreateDir(dir.path() + "/d", CreatePerms{}).ok());
  ASSERT_TRUE(env->CreateDir(dir.path() + "/d", CreatePerms{}).ok());  // idempotent
  EXPECT_FALSE(env->CreateDir(b, CreatePerms{}).ok());                 // a file is in the way
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

TEST(PosixDir, NamesOneEntryAndFollowsNoLink) {
  ScratchDir inside, outside;
  Env* env = Env::Default();
  WriteFile(outside.path() + "/secret", "secret");
  ASSERT_EQ(::symlink(outside.path().c_str(), (inside.path() + "/link").c_str()), 0);
  ASSERT_EQ(::symlink((outside.path() + "/secret").c_str(), (inside.path() + "/flink").c_str()), 0);
  std::unique_ptr<Dir> dir;
  EXPECT_FALSE(env->OpenDir(inside.path() + "/link", &dir).ok());  // ELOOP or ENOTDIR
  EXPECT_TRUE(env->OpenDir(inside.path() + "/missing", &dir).IsNotFound());
  ASSERT_TRUE(env->OpenDir(inside.path(), &dir).ok());

  // Only single names: nothing reaches the parent or a subdirectory.
  std::unique_ptr<File> f;
  for (const char* bad : {"", ".", "..", "link/secret", "../x"}) {
    EXPECT_TRUE(dir->OpenFile(bad, kOpenRead, &f).IsInvalidArgument()) << bad;
    EXPECT_TRUE(dir->Unlink(bad).IsInvalidArgument()) << bad;
    EXPECT_TRUE(dir->Rename("flink", bad, false).IsInvalidArgument()) << bad;
  }
  // A link in the directory is not followed, nor replaced by a create.
  EXPECT_EQ(dir->OpenFile("flink", kOpenRead, &f).err(), ELOOP);
  EXPECT_EQ(dir->OpenFile("flink", kOpenWrite | kOpenCreateExclusive, &f).err(), EEXIST);
  FileInfo info, target;
  ASSERT_TRUE(env->Stat(outside.path() + "/secret", &target).ok());
  dir->SetAccessTime("flink", 0);  // the link's own time, if anything
  ASSERT_TRUE(env->Stat(outside.path() + "/secret", &info).ok());
  EXPECT_EQ(info.atime_ns, target.atime_ns);
  ASSERT_TRUE(dir->Stat("flink", &info).ok());
  EXPECT_TRUE(info.IsSymlink());

  // Create, write, publish without replacing, sync, unlink.
  ASSERT_TRUE(dir->OpenFile("tmp", kOpenWrite | kOpenCreateExclusive, &f).ok());
  char data[] = "chunk";
  struct iovec iov = {data, 5};
  ASSERT_TRUE(f->WriteV(0, &iov, 1).ok());
  f.reset();
  WriteFile(inside.path() + "/taken", "x");
  EXPECT_EQ(dir->Rename("tmp", "taken", /*no_replace=*/true).err(), EEXIST);
  ASSERT_TRUE(dir->Rename("tmp", "name", /*no_replace=*/true).ok());
  ASSERT_TRUE(dir->Stat("name", &info).ok());
  EXPECT_EQ(info.size, 5u);
  EXPECT_TRUE(dir->Stat("tmp", &info).IsNotFound());
  ASSERT_TRUE(dir->SetAccessTime("name", 1000000000LL * 2000).ok());
  ASSERT_TRUE(env->Stat(inside.path() + "/name", &info).ok());
  EXPECT_EQ(info.atime_ns, 1000000000LL * 2000);
  EXPECT_TRUE(dir->Sync().ok());
  ASSERT_TRUE(dir->Unlink("flink").ok());  // the link goes, its target stays
  struct stat st;
  EXPECT_EQ(::stat((outside.path() + "/secret").c_str(), &st), 0);
  EXPECT_EQ(::access((outside.path() + "/name").c_str(), F_OK), -1);
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

// Sets a file's atime and mtime (seconds since the epoch); false if the
// filesystem cannot hold them exactly.
bool SetTimes(const std::string& path, int64_t atime_s, int64_t mtime_s) {
  struct timespec ts[2] = {{static_cast<time_t>(atime_s), 0}, {static_cast<time_t>(mtime_s), 0}};
  struct stat st {};
  return ::utimensat(AT_FDCWD, path.c_str(), ts, 0) == 0 && ::stat(path.c_str(), &st) == 0 &&
         st.st_atim.tv_sec == atime_s && st.st_mtim.tv_sec == mtime_s;
}

TEST(PosixEnv, FileTimesOutsideInt64NanosAreClamped) {
  // Any file on the shared directory may carry any time; ns since the epoch
  // past the year 2262 do not fit an int64.
  ScratchDir dir;
  std::string path = dir.path() + "/f";
  std::ofstream(path) << "x";
  const int64_t year_2400 = 13'569'465'600;
  if (!SetTimes(path, year_2400, -86'400)) GTEST_SKIP() << "filesystem cannot hold year 2400";
  FileInfo info;
  ASSERT_TRUE(Env::Default()->Stat(path, &info).ok());
  EXPECT_EQ(info.atime_ns, INT64_MAX);
  EXPECT_EQ(info.mtime_ns, 0);  // before the epoch
  std::unique_ptr<File> f;
  ASSERT_TRUE(Env::Default()->OpenFile(path, kOpenRead, &f).ok());
  ASSERT_TRUE(f->Stat(&info).ok());
  EXPECT_EQ(info.atime_ns, INT64_MAX);
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(PosixEnv, CreatedDirectoriesGetTheirModeAndGroupExactly) {
  // A umask that strips group write, as in most containers: the mode must
  // still come out group-writable and setgid, or another user's evictor
  // could not delete what this user stores.
  ScratchDir dir;
  Env* env = Env::Default();
  const mode_t old_umask = ::umask(022);
  CreatePerms perms;
  perms.dir_mode = 02775;
  perms.file_mode = 0664;
  perms.group = static_cast<int64_t>(::getgid());
  std::string d = dir.path() + "/d";
  ASSERT_TRUE(env->CreateDir(d, perms).ok());
  EXPECT_EQ(ModeOf(d), 02775u);
  // An existing directory keeps what it has.
  ASSERT_EQ(::chmod(d.c_str(), 0700), 0);
  ASSERT_TRUE(env->CreateDir(d, perms).ok());
  EXPECT_EQ(ModeOf(d), 0700u);
  // Files: open(2)'s mode, masked by the umask; 0644 when none is given.
  std::unique_ptr<File> f;
  const unsigned create = kOpenWrite | kOpenCreateExclusive;
  ASSERT_TRUE(env->OpenFile(d + "/a", create | OpenModeFlags(0640), &f).ok());
  EXPECT_EQ(ModeOf(d + "/a"), 0640u);
  std::unique_ptr<Dir> handle;
  ASSERT_TRUE(env->OpenDir(d, &handle).ok());
  ASSERT_TRUE(handle->OpenFile("b", create | OpenModeFlags(0664), &f).ok());
  EXPECT_EQ(ModeOf(d + "/b"), 0644u);  // group write masked by the umask
  ASSERT_TRUE(handle->OpenFile("c", create, &f).ok());
  EXPECT_EQ(ModeOf(d + "/c"), 0644u);
  ::umask(old_umask);

  if (::geteuid() == 0) {
    // Root may give any group; a failed chown removes the new directory.
    perms.group = 54321;
    ASSERT_TRUE(env->CreateDir(dir.path() + "/g", perms).ok());
    struct stat st {};
    ASSERT_EQ(::stat((dir.path() + "/g").c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, 54321u);
    EXPECT_EQ(st.st_mode & 07777, 02775u);
  } else {
    perms.group = 54321;  // not one of ours: EPERM
    EXPECT_EQ(env->CreateDir(dir.path() + "/g", perms).err(), EPERM);
    EXPECT_NE(::access((dir.path() + "/g").c_str(), F_OK), 0);
  }
}

}  // namespace
}  // namespace kvtier
