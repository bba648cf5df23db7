// Where a cache root's symlinks are resolved: once, here, for every entry
// point (Store::Open, the evictor, each CLI command).
//
// A root comes from trusted configuration (a tier option, a flag, an
// environment variable) and on HPC sites often sits below a symlink
// (/scratch -> /lustre/scratch). Env follows no symlink anywhere in a path,
// so a root is first turned into its real path; everything below it is then
// reached with symlinks refused. This is the only place kvtier follows one.
#ifndef KVTIER_SRC_ENV_ROOT_PATH_H_
#define KVTIER_SRC_ENV_ROOT_PATH_H_

#include <string>

#include "kvtier/status.h"

namespace kvtier {

// The real path of `root` itself (it may be a symlink, or sit below one).
Status ResolveRoot(const std::string& root, std::string* resolved);

// For a file named on its own (`kvtier inspect FILE`): its directory is
// resolved as a root; its last component is kept as given and never
// followed.
Status ResolveFileInRoot(const std::string& path, std::string* resolved);

}  // namespace kvtier

#endif  // KVTIER_SRC_ENV_ROOT_PATH_H_
