// The POSIX Env. Every path is resolved with openat2(RESOLVE_NO_SYMLINKS) so
// that a symlink planted anywhere in a path (a fan-out directory swapped for a
// link to /etc, say) makes the operation fail with ELOOP instead of reaching
// outside the cache root. Operations on a name go through a descriptor of its
// parent directory (the *at() calls) for the same reason.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <thread>

#include "env/posix_file.h"
#include "kvtier/env.h"

namespace kvtier {

bool FileInfo::IsRegular() const { return S_ISREG(mode); }
bool FileInfo::IsDirectory() const { return S_ISDIR(mode); }
bool FileInfo::IsSymlink() const { return S_ISLNK(mode); }

namespace {

// openat2 with RESOLVE_NO_SYMLINKS; falls back to O_NOFOLLOW (last component
// only) on kernels older than 5.6.
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

// A descriptor of `path`'s parent directory plus the last component.
class ParentDir {
 public:
  explicit ParentDir(const std::string& path) {
    size_t slash = path.find_last_of('/');
    std::string dir;
    if (slash == std::string::npos) {
      dir = ".";
      name_ = path;
    } else {
      dir = slash == 0 ? "/" : path.substr(0, slash);
      name_ = path.substr(slash + 1);
    }
    if (name_.empty() || name_ == "." || name_ == "..") {
      errno_ = EINVAL;
      return;
    }
    fd_ = OpenNoSymlinks(dir, O_PATH | O_DIRECTORY, 0);
    if (fd_ < 0) errno_ = errno;
  }
  ~ParentDir() {
    if (fd_ >= 0) ::close(fd_);
  }
  ParentDir(const ParentDir&) = delete;
  ParentDir& operator=(const ParentDir&) = delete;

  bool ok() const { return fd_ >= 0; }
  int error() const { return errno_; }
  int fd() const { return fd_; }
  const char* name() const { return name_.c_str(); }

 private:
  int fd_ = -1;
  int errno_ = 0;
  std::string name_;
};

class PosixEnv final : public Env {
 public:
  Status OpenFile(const std::string& path, unsigned flags, std::unique_ptr<File>* out) override {
    int oflags = 0;
    if ((flags & kOpenRead) && (flags & kOpenWrite)) {
      oflags = O_RDWR;
    } else if (flags & kOpenWrite) {
      oflags = O_WRONLY;
    } else {
      oflags = O_RDONLY;
    }
    if (flags & kOpenCreateExclusive) oflags |= O_CREAT | O_EXCL;
    if (flags & kOpenDirect) oflags |= O_DIRECT;
    // A FIFO planted under a chunk name must not block a reader.
    if (!(flags & kOpenWrite)) oflags |= O_NONBLOCK;
    int fd = OpenNoSymlinks(path, oflags, 0644);
    if (fd < 0) return PosixError(path, errno);
    *out = std::make_unique<PosixFile>(fd, path);
    return Status::OK();
  }

  Status Stat(const std::string& path, FileInfo* info) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    struct stat st;
    if (::fstatat(parent.fd(), parent.name(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return PosixError(path, errno);
    }
    FillFileInfo(st, info);
    return Status::OK();
  }

  Status Rename(const std::string& from, const std::string& to, bool no_replace) override {
    ParentDir src(from);
    if (!src.ok()) return PosixError(from, src.error());
    ParentDir dst(to);
    if (!dst.ok()) return PosixError(to, dst.error());
    unsigned rflags = no_replace ? RENAME_NOREPLACE : 0;
    if (::renameat2(src.fd(), src.name(), dst.fd(), dst.name(), rflags) != 0) {
      if (no_replace && (errno == EINVAL || errno == ENOSYS)) {
        return Status::NotSupported("renameat2(RENAME_NOREPLACE) " + to, errno);
      }
      return PosixError("rename " + from + " -> " + to, errno);
    }
    return Status::OK();
  }

  Status Unlink(const std::string& path) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    if (::unlinkat(parent.fd(), parent.name(), 0) != 0) return PosixError(path, errno);
    return Status::OK();
  }

  Status RemoveDir(const std::string& path) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    if (::unlinkat(parent.fd(), parent.name(), AT_REMOVEDIR) != 0) return PosixError(path, errno);
    return Status::OK();
  }

  Status CreateDir(const std::string& path) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    if (::mkdirat(parent.fd(), parent.name(), 0755) == 0) return Status::OK();
    int err = errno;
    if (err == EEXIST) {
      struct stat st;
      if (::fstatat(parent.fd(), parent.name(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISDIR(st.st_mode)) {
        return Status::OK();
      }
      return Status::IOError(path + " exists and is not a directory", ENOTDIR);
    }
    return PosixError(path, err);
  }

  Status SyncDir(const std::string& path) override {
    int fd = OpenNoSymlinks(path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return PosixError(path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return PosixError("fsync " + path, err);
    return Status::OK();
  }

  Status ListDir(const std::string& path, std::vector<DirEntry>* out) override {
    out->clear();
    int fd = OpenNoSymlinks(path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return PosixError(path, errno);
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
      int err = errno;
      ::close(fd);
      return PosixError(path, err);
    }
    errno = 0;
    while (struct dirent* e = ::readdir(dir)) {
      if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && !e->d_name[2]))) {
        continue;
      }
      DirEntry entry;
      entry.name = e->d_name;
      entry.type = DirEntryTypeFromDType(e->d_type);
      out->push_back(std::move(entry));
    }
    int err = errno;
    ::closedir(dir);
    if (err != 0) return PosixError("readdir " + path, err);
    return Status::OK();
  }

  Status SetAccessTime(const std::string& path, int64_t atime_ns) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    struct timespec times[2];
    AccessTimeOnly(atime_ns, times);
    if (::utimensat(parent.fd(), parent.name(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return PosixError("utimensat " + path, errno);
    }
    return Status::OK();
  }

  Status GetFsUsage(const std::string& path, FsUsage* out) override {
    struct statfs fs;
    if (::statfs(path.c_str(), &fs) != 0) return PosixError("statfs " + path, errno);
    uint64_t unit =
        fs.f_frsize != 0 ? static_cast<uint64_t>(fs.f_frsize) : static_cast<uint64_t>(fs.f_bsize);
    out->total_bytes = static_cast<uint64_t>(fs.f_blocks) * unit;
    out->avail_bytes = static_cast<uint64_t>(fs.f_bavail) * unit;
    out->fs_type = static_cast<int64_t>(fs.f_type);
    return Status::OK();
  }

  int64_t NowNanos() override {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
  }

  uint64_t MonotonicNanos() override {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
  }

  void SleepMicros(uint64_t micros) override {
    std::this_thread::sleep_for(std::chrono::microseconds(micros));
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: outlives all users
  return env;
}

}  // namespace kvtier
