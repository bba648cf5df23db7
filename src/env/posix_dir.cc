#include "env/posix_dir.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "env/posix_file.h"

namespace kvtier {

int OpenNoSymlinks(const std::string& path, int flags, mode_t mode) {
  static bool have_openat2 = true;
  if (have_openat2) {
    struct open_how how = {};
    how.flags = static_cast<uint64_t>(flags) | O_NOFOLLOW | O_CLOEXEC;
    how.mode = (flags & O_CREAT) != 0 ? mode : 0;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd;
    do {
      fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how)));
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd >= 0 || errno != ENOSYS) return fd;
    have_openat2 = false;
  }
  return ::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
}

int PosixOpenFlags(unsigned flags) {
  int oflags = O_RDONLY;
  if ((flags & kOpenRead) && (flags & kOpenWrite)) {
    oflags = O_RDWR;
  } else if (flags & kOpenWrite) {
    oflags = O_WRONLY;
  }
  if (flags & kOpenCreateExclusive) oflags |= O_CREAT | O_EXCL;
  if (flags & kOpenDirect) oflags |= O_DIRECT;
  // A FIFO planted under a chunk name must not block a reader.
  if (!(flags & kOpenWrite)) oflags |= O_NONBLOCK;
  return oflags;
}

Status StatAt(int dirfd, const char* name, const std::string& path, FileInfo* info) {
  struct stat st;
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return PosixError(path, errno);
  FillFileInfo(st, info);
  return Status::OK();
}

Status RenameAt(int from_dirfd, const char* from, int to_dirfd, const char* to, bool no_replace,
                const std::string& what) {
  unsigned rflags = no_replace ? RENAME_NOREPLACE : 0;
  if (::renameat2(from_dirfd, from, to_dirfd, to, rflags) == 0) return Status::OK();
  if (no_replace && (errno == EINVAL || errno == ENOSYS)) {
    return Status::NotSupported("renameat2(RENAME_NOREPLACE) " + what, errno);
  }
  return PosixError("rename " + what, errno);
}

Status UnlinkAt(int dirfd, const char* name, int flags, const std::string& path) {
  if (::unlinkat(dirfd, name, flags) != 0) return PosixError(path, errno);
  return Status::OK();
}

Status SetAccessTimeAt(int dirfd, const char* name, int64_t atime_ns, const std::string& path) {
  struct timespec times[2];
  AccessTimeOnly(atime_ns, times);
  if (::utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW) != 0) {
    return PosixError("utimensat " + path, errno);
  }
  return Status::OK();
}

Status SyncAndClose(int fd, const std::string& path) {
  if (fd < 0) return PosixError(path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return PosixError("fsync " + path, err);
  return Status::OK();
}

namespace {

bool IsSingleName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

class PosixDir final : public Dir {
 public:
  PosixDir(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixDir() override { ::close(fd_); }

  Status OpenFile(const std::string& name, unsigned flags, std::unique_ptr<File>* out) override {
    if (!IsSingleName(name)) return Invalid(name);
    int fd;
    do {
      fd = ::openat(fd_, name.c_str(), PosixOpenFlags(flags) | O_NOFOLLOW | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return PosixError(Join(name), errno);
    *out = std::make_unique<PosixFile>(fd, Join(name));
    return Status::OK();
  }

  Status Stat(const std::string& name, FileInfo* info) override {
    if (!IsSingleName(name)) return Invalid(name);
    return StatAt(fd_, name.c_str(), Join(name), info);
  }

  Status Rename(const std::string& from, const std::string& to, bool no_replace) override {
    if (!IsSingleName(from)) return Invalid(from);
    if (!IsSingleName(to)) return Invalid(to);
    return RenameAt(fd_, from.c_str(), fd_, to.c_str(), no_replace, Join(from) + " -> " + to);
  }

  Status Unlink(const std::string& name) override {
    if (!IsSingleName(name)) return Invalid(name);
    return UnlinkAt(fd_, name.c_str(), 0, Join(name));
  }

  Status SetAccessTime(const std::string& name, int64_t atime_ns) override {
    if (!IsSingleName(name)) return Invalid(name);
    return SetAccessTimeAt(fd_, name.c_str(), atime_ns, Join(name));
  }

  Status Sync() override {
    // fsync needs a readable descriptor; the O_PATH one cannot be synced.
    return SyncAndClose(::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), path_);
  }

 private:
  std::string Join(const std::string& name) const { return path_ + "/" + name; }
  Status Invalid(const std::string& name) const {
    return Status::InvalidArgument("not a single name in " + path_ + ": " + name);
  }

  int fd_;
  std::string path_;
};

}  // namespace

Status OpenPosixDir(const std::string& path, std::unique_ptr<Dir>* out) {
  int fd = OpenNoSymlinks(path, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) return PosixError(path, errno);
  *out = std::make_unique<PosixDir>(fd, path);
  return Status::OK();
}

}  // namespace kvtier
