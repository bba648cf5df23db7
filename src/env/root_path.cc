#include "env/root_path.h"

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace kvtier {

Status ResolveRoot(const std::string& root, std::string* resolved) {
  if (root.empty()) return Status::InvalidArgument("empty root path");
  char buf[PATH_MAX];
  if (::realpath(root.c_str(), buf) == nullptr) return PosixError(root, errno);
  *resolved = buf;
  return Status::OK();
}

Status ResolveFileInRoot(const std::string& path, std::string* resolved) {
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    return Status::InvalidArgument("not a file name: " + path);
  }
  std::string real_dir;
  Status s = ResolveRoot(dir, &real_dir);
  if (!s.ok()) return s;
  *resolved = (real_dir == "/" ? "" : real_dir) + "/" + name;
  return Status::OK();
}

}  // namespace kvtier
