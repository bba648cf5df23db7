// Raw *at() syscalls for the evictor's walk; see tree_walker.h for why they
// live here and nowhere else.
#include "evictor/tree_walker.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "env/posix_file.h"

namespace kvtier::evictor {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// A single path component: non-empty, no '/', no NUL, not "." or "..".
// Anything else could climb out of the directory the fd names.
bool IsPlainName(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == '\0') return false;
  }
  return true;
}

// Layout of the records getdents64 fills in (glibc does not export it).
struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

}  // namespace

DirFd& DirFd::operator=(DirFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

DirFd::~DirFd() {
  if (fd_ >= 0) ::close(fd_);
}

Status DirFd::OpenRoot(const std::string& path, DirFd* out) {
  int fd = ::open(path.c_str(), kDirFlags);
  if (fd < 0) return PosixError("open root " + path, errno);
  *out = DirFd(fd);
  return Status::OK();
}

Status DirFd::OpenChild(std::string_view name, DirFd* out) const {
  if (!IsPlainName(name)) return Status::InvalidArgument("not a plain name: " + std::string(name));
  std::string n(name);
  int fd = ::openat(fd_, n.c_str(), kDirFlags);
  if (fd < 0) return PosixError("openat " + n, errno);
  *out = DirFd(fd);
  return Status::OK();
}

Status DirFd::List(std::vector<DirEntry>* out) const {
  out->clear();
  // Reading from offset 0 each call keeps List() repeatable on one fd.
  if (::lseek(fd_, 0, SEEK_SET) < 0) return PosixError("lseek dir", errno);
  alignas(8) char buf[32768];
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd_, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("getdents64", errno);
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<LinuxDirent64*>(buf + off);
      off += d->d_reclen;
      const char* nm = d->d_name;
      if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
      out->push_back(DirEntry{std::string(nm), DirEntryTypeFromDType(d->d_type)});
    }
  }
  return Status::OK();
}

Status DirFd::StatSelf(FileInfo* out) const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return PosixError("fstat dir", errno);
  FillFileInfo(st, out);
  return Status::OK();
}

Status DirFd::StatAt(std::string_view name, FileInfo* out) const {
  if (!IsPlainName(name)) return Status::InvalidArgument("not a plain name: " + std::string(name));
  std::string n(name);
  struct stat st;
  if (::fstatat(fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return PosixError("fstatat " + n, errno);
  }
  FillFileInfo(st, out);
  return Status::OK();
}

Status DirFd::UnlinkAt(std::string_view name) const {
  if (!IsPlainName(name)) return Status::InvalidArgument("not a plain name: " + std::string(name));
  std::string n(name);
  if (::unlinkat(fd_, n.c_str(), 0) != 0) return PosixError("unlinkat " + n, errno);
  return Status::OK();
}

Status DirFd::RemoveDirAt(std::string_view name) const {
  if (!IsPlainName(name)) return Status::InvalidArgument("not a plain name: " + std::string(name));
  std::string n(name);
  if (::unlinkat(fd_, n.c_str(), AT_REMOVEDIR) != 0) return PosixError("rmdir " + n, errno);
  return Status::OK();
}

}  // namespace kvtier::evictor
