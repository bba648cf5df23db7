// The evictor's only raw filesystem access: directory file descriptors
// opened with O_NOFOLLOW|O_DIRECTORY relative to their parent, entries read
// with getdents64, and stat/unlink/rmdir done with *at() calls on the parent
// descriptor. Because every step starts from an already-open directory and
// never follows a symlink, nothing outside the root can be named, let alone
// deleted, even while other processes rename or replace directories.
//
// Why not kvtier::Env: Env takes full path strings, so a walk of a million
// files would re-resolve every path component for every stat. The evictor
// keeps Env for the clock, the sleep and statvfs (which tests replace).
//
// Thread-safety: a DirFd is a value owned by one thread at a time.
#ifndef KVTIER_SRC_EVICTOR_TREE_WALKER_H_
#define KVTIER_SRC_EVICTOR_TREE_WALKER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvtier/env.h"
#include "kvtier/status.h"

namespace kvtier::evictor {

// The clock of --min-age and the grace periods: the last write (mtime).
// Not ctime: refreshing a chunk's atime with utimensat (what readers do on
// noatime mounts) also moves its ctime, which would make every recently
// read chunk look freshly written; recency of reads is atime's job.
inline int64_t ChangeNanos(const FileInfo& st) { return st.mtime_ns; }

// An open directory. Move-only; closes on destruction.
class DirFd {
 public:
  DirFd() = default;
  explicit DirFd(int fd) : fd_(fd) {}
  DirFd(DirFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  DirFd& operator=(DirFd&& o) noexcept;
  DirFd(const DirFd&) = delete;
  DirFd& operator=(const DirFd&) = delete;
  ~DirFd();

  // Opens an absolute or relative path as the walk's root. The last
  // component must be a real directory (O_NOFOLLOW); earlier components are
  // the operator's choice and may be symlinks (e.g. a CSI mount path).
  static Status OpenRoot(const std::string& path, DirFd* out);
  // Opens child `name` (one component, no '/') of this directory. A symlink
  // fails with ELOOP, a non-directory with ENOTDIR.
  Status OpenChild(std::string_view name, DirFd* out) const;
  // All entries except "." and "..", in directory order.
  Status List(std::vector<DirEntry>* out) const;
  Status StatSelf(FileInfo* out) const;
  // lstat of a child: a symlink is reported as a symlink, never followed.
  Status StatAt(std::string_view name, FileInfo* out) const;
  Status UnlinkAt(std::string_view name) const;
  Status RemoveDirAt(std::string_view name) const;

 private:
  int fd_ = -1;
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_TREE_WALKER_H_
