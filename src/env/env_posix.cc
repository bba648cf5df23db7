// The POSIX Env. Every path is resolved with openat2(RESOLVE_NO_SYMLINKS) so
// that a symlink planted anywhere in a path (a fan-out directory swapped for a
// link to /etc, say) makes the operation fail with ELOOP instead of reaching
// outside the cache root. Operations on a name go through a descriptor of its
// parent directory (the *at() calls) for the same reason.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <thread>

#include "env/posix_dir.h"
#include "env/posix_file.h"
#include "kvtier/env.h"

namespace kvtier {

bool FileInfo::IsRegular() const { return S_ISREG(mode); }
bool FileInfo::IsDirectory() const { return S_ISDIR(mode); }
bool FileInfo::IsSymlink() const { return S_ISLNK(mode); }

namespace {

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

// Gives a directory this process just made its exact mode and group (see
// CreatePerms), through a descriptor so a name swapped for a link in the
// meantime is refused rather than followed. On failure the directory is
// removed again: left behind, it would pass for one with the right mode.
Status SetDirPerms(int parent_fd, const char* name, const CreatePerms& perms,
                   const std::string& path) {
  int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0 && perms.group >= 0 && ::fchown(fd, -1, static_cast<gid_t>(perms.group)) != 0) {
    err = errno;
  }
  // After chown, which may clear the setgid bit.
  if (err == 0 && ::fchmod(fd, perms.dir_mode & 07777) != 0) err = errno;
  if (fd >= 0) ::close(fd);
  if (err == 0) return Status::OK();
  ::unlinkat(parent_fd, name, AT_REMOVEDIR);
  return PosixError("setting mode/group of " + path, err);
}

class PosixEnv final : public Env {
 public:
  Status OpenFile(const std::string& path, unsigned flags, std::unique_ptr<File>* out) override {
    int fd = OpenNoSymlinks(path, PosixOpenFlags(flags), OpenFlagsMode(flags));
    if (fd < 0) return PosixError(path, errno);
    *out = std::make_unique<PosixFile>(fd, path);
    return Status::OK();
  }

  Status Stat(const std::string& path, FileInfo* info) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    return StatAt(parent.fd(), parent.name(), path, info);
  }

  Status Rename(const std::string& from, const std::string& to, bool no_replace) override {
    ParentDir src(from);
    if (!src.ok()) return PosixError(from, src.error());
    ParentDir dst(to);
    if (!dst.ok()) return PosixError(to, dst.error());
    return RenameAt(src.fd(), src.name(), dst.fd(), dst.name(), no_replace, from + " -> " + to);
  }

  Status Unlink(const std::string& path) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    return UnlinkAt(parent.fd(), parent.name(), 0, path);
  }

  Status RemoveDir(const std::string& path) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    return UnlinkAt(parent.fd(), parent.name(), AT_REMOVEDIR, path);
  }

  Status CreateDir(const std::string& path, const CreatePerms& perms) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    if (::mkdirat(parent.fd(), parent.name(), perms.dir_mode & 0777) == 0) {
      // The default is left to mkdir and the umask, as before this option
      // existed: on a network filesystem each extra call is a round trip.
      if (perms.dir_mode == CreatePerms{}.dir_mode && perms.group < 0) return Status::OK();
      return SetDirPerms(parent.fd(), parent.name(), perms, path);
    }
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
    return SyncAndClose(OpenNoSymlinks(path, O_RDONLY | O_DIRECTORY, 0), path);
  }

  Status OpenDir(const std::string& path, std::unique_ptr<Dir>* out) override {
    return OpenPosixDir(path, out);
  }

  Status ListDir(const std::string& path, std::vector<DirEntry>* out) override {
    out->clear();
    int fd = OpenNoSymlinks(path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return PosixError(path, errno);
    Status s = ListOpenDir(fd, path, out);
    ::close(fd);
    return s;
  }

  Status SetAccessTime(const std::string& path, int64_t atime_ns) override {
    ParentDir parent(path);
    if (!parent.ok()) return PosixError(path, parent.error());
    return SetAccessTimeAt(parent.fd(), parent.name(), atime_ns, path);
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
