#include "env/posix_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "io/iovec_cursor.h"

namespace kvtier {

namespace {

// A file's time in ns since the epoch, clamped to [0, INT64_MAX]. Files on
// the shared directory may carry any time (ext4 keeps years up to 2446, past
// what int64 ns can hold), and callers subtract these from the clock.
int64_t ClampedNanos(const struct timespec& ts) {
  constexpr int64_t kMaxSec = INT64_MAX / 1000000000LL - 1;
  if (ts.tv_sec < 0) return 0;
  if (ts.tv_sec > kMaxSec) return INT64_MAX;
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

}  // namespace

void FillFileInfo(const struct stat& st, FileInfo* info) {
  info->size = static_cast<uint64_t>(st.st_size);
  info->dev = st.st_dev;
  info->ino = st.st_ino;
  info->atime_ns = ClampedNanos(st.st_atim);
  info->mtime_ns = ClampedNanos(st.st_mtim);
  info->mode = st.st_mode;
  info->alloc_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
}

DirEntry::Type DirEntryTypeFromDType(unsigned char d_type) {
  switch (d_type) {
    case DT_REG:
      return DirEntry::Type::kFile;
    case DT_DIR:
      return DirEntry::Type::kDirectory;
    case DT_LNK:
      return DirEntry::Type::kSymlink;
    case DT_UNKNOWN:
      return DirEntry::Type::kUnknown;
    default:
      return DirEntry::Type::kOther;
  }
}

void AccessTimeOnly(int64_t atime_ns, struct timespec times[2]) {
  times[0].tv_sec = atime_ns / 1000000000LL;
  times[0].tv_nsec = atime_ns % 1000000000LL;
  times[1].tv_sec = 0;
  times[1].tv_nsec = UTIME_OMIT;
}

PosixFile::~PosixFile() { ::close(fd_); }

Status PosixFile::ReadV(uint64_t offset, const struct iovec* iov, int iovcnt, size_t* bytes_read) {
  IovecCursor cursor(iov, iovcnt);
  size_t done = 0;
  while (!cursor.empty()) {
    ssize_t n = ::preadv(fd_, cursor.iov(), cursor.count(), static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      *bytes_read = done;
      return PosixError("read " + path_, errno);
    }
    if (n == 0) break;  // end of file
    done += static_cast<size_t>(n);
    cursor.Advance(static_cast<size_t>(n));
  }
  *bytes_read = done;
  return Status::OK();
}

Status PosixFile::WriteV(uint64_t offset, const struct iovec* iov, int iovcnt) {
  IovecCursor cursor(iov, iovcnt);
  size_t done = 0;
  while (!cursor.empty()) {
    ssize_t n = ::pwritev(fd_, cursor.iov(), cursor.count(), static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write " + path_, errno);
    }
    if (n == 0) return Status::IOError("write made no progress " + path_, EIO);
    done += static_cast<size_t>(n);
    cursor.Advance(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status PosixFile::Sync() {
  if (::fsync(fd_) != 0) return PosixError("fsync " + path_, errno);
  return Status::OK();
}

Status PosixFile::Stat(FileInfo* info) {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return PosixError("fstat " + path_, errno);
  FillFileInfo(st, info);
  return Status::OK();
}

Status PosixFile::SetAccessTime(int64_t atime_ns) {
  struct timespec times[2];
  AccessTimeOnly(atime_ns, times);
  if (::futimens(fd_, times) != 0) return PosixError("futimens " + path_, errno);
  return Status::OK();
}

}  // namespace kvtier
