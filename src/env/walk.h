// The rule every tree walk below a cache root applies (the evictor's scan
// and deletes, `kvtier stat` and `kvtier verify`), kept in one place so that
// they agree on what is left out silently and what is an error.
#ifndef KVTIER_SRC_ENV_WALK_H_
#define KVTIER_SRC_ENV_WALK_H_

#include <cerrno>
#include <memory>
#include <string>

#include "kvtier/env.h"

namespace kvtier {

// kUnknown: the filesystem did not say (no d_type); open or Stat to find out.
inline bool MaybeDirectory(DirEntry::Type t) {
  return t == DirEntry::Type::kDirectory || t == DirEntry::Type::kUnknown;
}
inline bool MaybeRegularFile(DirEntry::Type t) {
  return t == DirEntry::Type::kFile || t == DirEntry::Type::kUnknown;
}

// Opens subdirectory `name` of `parent` with Dir::OpenDir (no symlink
// followed, no other filesystem entered); true when opened. Otherwise
// *error is OK when the entry is simply not part of the tree (removed since
// the listing; a symlink or not a directory), and the failure when the
// directory is there but could not be read (EACCES, EIO, EXDEV for another
// filesystem mounted on it): a walk must say so, never pass over it quietly.
inline bool OpenForWalk(Dir* parent, const std::string& name, std::unique_ptr<Dir>* out,
                        Status* error) {
  Status s = parent->OpenDir(name, out);
  if (s.ok() || s.IsNotFound() || s.err() == ELOOP || s.err() == ENOTDIR) {
    *error = Status::OK();
  } else {
    *error = s;
  }
  return s.ok();
}

}  // namespace kvtier

#endif  // KVTIER_SRC_ENV_WALK_H_
