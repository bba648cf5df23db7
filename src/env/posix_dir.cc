#include "env/posix_dir.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

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

Status ListOpenDir(int fd, const std::string& path, std::vector<DirEntry>* out) {
  out->clear();
  // From offset 0 each time, so one descriptor can be listed again.
  if (::lseek(fd, 0, SEEK_SET) < 0) return PosixError("list " + path, errno);
  // getdents64 directly: readdir's DIR stream would add an allocation and a
  // copy per directory, which a scan of a million files notices.
  struct LinuxDirent64 {  // what the kernel writes; glibc does not export it
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
  };
  alignas(8) char buf[32768];
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("list " + path, errno);
    }
    if (n == 0) return Status::OK();
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const LinuxDirent64*>(buf + off);
      off += d->d_reclen;
      const char* nm = d->d_name;
      if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
      out->push_back(DirEntry{std::string(nm), DirEntryTypeFromDType(d->d_type)});
    }
  }
}

namespace {

bool IsSingleName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// fd_ is O_PATH when the Dir was opened by path or with OpenDirHandle (the
// store's leaf directories and their parents: nothing to list, no read
// permission needed) and readable when it was opened from a parent for a
// walk (OpenDir), which lists it.
class PosixDir final : public Dir {
 public:
  PosixDir(int fd, std::string path, bool readable, uint64_t dev, bool have_dev)
      : fd_(fd), readable_(readable), path_(std::move(path)), dev_(dev), have_dev_(have_dev) {}
  ~PosixDir() override { ::close(fd_); }

  Status OpenFile(const std::string& name, unsigned flags, std::unique_ptr<File>* out) override {
    if (!IsSingleName(name)) return Invalid(name);
    int fd;
    do {
      fd = ::openat(fd_, name.c_str(), PosixOpenFlags(flags) | O_NOFOLLOW | O_CLOEXEC,
                    OpenFlagsMode(flags));
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return PosixError(Join(name), errno);
    *out = std::make_unique<PosixFile>(fd, Join(name));
    return Status::OK();
  }

  Status OpenDir(const std::string& name, std::unique_ptr<Dir>* out) override {
    return OpenSub(name, /*readable=*/true, out);
  }

  Status OpenDirHandle(const std::string& name, std::unique_ptr<Dir>* out) override {
    return OpenSub(name, /*readable=*/false, out);
  }

  Status List(std::vector<DirEntry>* out) override {
    if (readable_) {
      std::lock_guard<std::mutex> l(list_mu_);  // the descriptor's offset is shared
      return ListOpenDir(fd_, path_, out);
    }
    int fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError(path_, errno);
    Status s = ListOpenDir(fd, path_, out);
    ::close(fd);
    return s;
  }

  Status Stat(const std::string& name, FileInfo* info) override {
    if (!IsSingleName(name)) return Invalid(name);
    struct stat st;
    // The entry's path is built only for an error: a scan stats every file.
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return PosixError(Join(name), errno);
    }
    FillFileInfo(st, info);
    return Status::OK();
  }

  Status StatSelf(FileInfo* info) override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return PosixError(path_, errno);
    FillFileInfo(st, info);
    return Status::OK();
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

  Status RemoveDir(const std::string& name) override {
    if (!IsSingleName(name)) return Invalid(name);
    return UnlinkAt(fd_, name.c_str(), AT_REMOVEDIR, Join(name));
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
  // A subdirectory, readable (for walks that list it) or O_PATH (a handle
  // to name entries by).
  Status OpenSub(const std::string& name, bool readable, std::unique_ptr<Dir>* out) {
    if (!IsSingleName(name)) return Invalid(name);
    uint64_t dev = 0;
    Status s = Dev(&dev);
    if (!s.ok()) return s;
    int fd;
    do {
      fd = ::openat(fd_, name.c_str(),
                    (readable ? O_RDONLY : O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return PosixError(Join(name), errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return PosixError(Join(name), err);
    }
    if (st.st_dev != dev) {
      ::close(fd);
      return Status::IOError(Join(name) + ": another filesystem is mounted here", EXDEV);
    }
    *out = std::make_unique<PosixDir>(fd, Join(name), readable, dev, true);
    return Status::OK();
  }
  Status Invalid(const std::string& name) const {
    return Status::InvalidArgument("not a single name in " + path_ + ": " + name);
  }
  // This directory's device, looked up once: most Dirs (the store's) never
  // open a subdirectory, so they never pay for the fstat.
  Status Dev(uint64_t* dev) {
    if (!have_dev_.load(std::memory_order_acquire)) {
      struct stat st;
      if (::fstat(fd_, &st) != 0) return PosixError(path_, errno);
      dev_.store(st.st_dev, std::memory_order_relaxed);
      have_dev_.store(true, std::memory_order_release);
    }
    *dev = dev_.load(std::memory_order_relaxed);
    return Status::OK();
  }

  const int fd_;
  const bool readable_;
  const std::string path_;
  std::atomic<uint64_t> dev_;
  std::atomic<bool> have_dev_;
  std::mutex list_mu_;
};

}  // namespace

Status OpenPosixDir(const std::string& path, std::unique_ptr<Dir>* out) {
  int fd = OpenNoSymlinks(path, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) return PosixError(path, errno);
  *out = std::make_unique<PosixDir>(fd, path, false, 0, false);
  return Status::OK();
}

}  // namespace kvtier
