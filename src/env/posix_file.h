// PosixFile: a File over a kernel descriptor (pread/pwrite semantics).
#ifndef KVTIER_SRC_ENV_POSIX_FILE_H_
#define KVTIER_SRC_ENV_POSIX_FILE_H_

#include <sys/stat.h>
#include <cstdint>

#include <string>

#include "kvtier/env.h"

namespace kvtier {

// Shared with the path-based calls in env_posix.cc.
void FillFileInfo(const struct stat& st, FileInfo* info);
// dirent's d_type as a DirEntry::Type (DT_UNKNOWN: the caller must lstat).
DirEntry::Type DirEntryTypeFromDType(unsigned char d_type);
// {atime, UTIME_OMIT}: set the access time, leave the modification time.
void AccessTimeOnly(int64_t atime_ns, struct timespec times[2]);

class PosixFile final : public File {
 public:
  // Takes ownership of `fd`.
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override;

  Status ReadV(uint64_t offset, const struct iovec* iov, int iovcnt, size_t* bytes_read) override;
  Status WriteV(uint64_t offset, const struct iovec* iov, int iovcnt) override;
  Status Sync() override;
  Status Stat(FileInfo* info) override;
  Status SetAccessTime(int64_t atime_ns) override;
  int NativeHandle() const override { return fd_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_ENV_POSIX_FILE_H_
