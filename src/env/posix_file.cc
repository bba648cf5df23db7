#include "env/posix_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "io/iovec_cursor.h"

namespace kvtier {

void FillFileInfo(const struct stat& st, FileInfo* info) {
  info->size = static_cast<uint64_t>(st.st_size);
  info->dev = st.st_dev;
  info->ino = st.st_ino;
  info->atime_ns = st.st_atim.tv_sec * 1000000000LL + st.st_atim.tv_nsec;
  info->mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
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
