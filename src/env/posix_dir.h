// Operations on one name relative to an open directory descriptor, shared by
// PosixEnv (which opens the parent of a path for each call) and PosixDir
// (which keeps a directory open across calls). The descriptor was reached by
// a walk that followed no symlink, and these calls never follow one in the
// last component, so nothing here leaves the directory's tree. `path` names
// the entry in error messages only.
#ifndef KVTIER_SRC_ENV_POSIX_DIR_H_
#define KVTIER_SRC_ENV_POSIX_DIR_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvtier/env.h"

namespace kvtier {

// openat2(RESOLVE_NO_SYMLINKS), or open(O_NOFOLLOW) (last component only)
// on kernels older than 5.6. Returns the descriptor or -1 with errno set.
int OpenNoSymlinks(const std::string& path, int flags, mode_t mode);
// kvtier's OpenFlags as open(2) flags.
int PosixOpenFlags(unsigned flags);

Status StatAt(int dirfd, const char* name, const std::string& path, FileInfo* info);
// `what` ("a -> b") names the rename in error messages.
Status RenameAt(int from_dirfd, const char* from, int to_dirfd, const char* to, bool no_replace,
                const std::string& what);
Status UnlinkAt(int dirfd, const char* name, int flags, const std::string& path);
// fsync(fd) then close(fd); fd < 0 reports the open's errno.
Status SyncAndClose(int fd, const std::string& path);
Status SetAccessTimeAt(int dirfd, const char* name, int64_t atime_ns, const std::string& path);

// Appends the entries of the directory open on `fd` (readable, not O_PATH)
// from its start, skipping "." and ".."; `path` names it in errors.
Status ListOpenDir(int fd, const std::string& path, std::vector<DirEntry>* out);

// Opens `path` as a Dir (O_PATH: no read permission needed to use it).
Status OpenPosixDir(const std::string& path, std::unique_ptr<Dir>* out);

}  // namespace kvtier

#endif  // KVTIER_SRC_ENV_POSIX_DIR_H_
