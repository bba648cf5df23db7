#include "store/leaf_dirs.h"

#include <utility>

namespace kvtier {

LeafDirs::LeafDirs(Env* env, int64_t ttl_ns, size_t max_dirs)
    : env_(env), ttl_ns_(ttl_ns > 0 ? static_cast<uint64_t>(ttl_ns) : 0), max_dirs_(max_dirs) {}

template <class Op>
Status LeafDirs::WithLeaf(const std::string& leaf_dir, uint64_t now_ns, Op op) {
  const bool caching = ttl_ns_ > 0 && max_dirs_ > 0;
  std::shared_ptr<Dir> dir;
  if (caching) {
    MutexLock lock(&mu_);
    auto it = dirs_.find(leaf_dir);
    if (it != dirs_.end()) {
      if (it->second.expires_ns > now_ns) {
        dir = it->second.dir;
      } else {
        dirs_.erase(it);
      }
    }
  }
  if (dir != nullptr) {
    Status s = op(dir.get());
    if (s.ok() || s.IsNotFound()) return s;
    MutexLock lock(&mu_);
    auto it = dirs_.find(leaf_dir);
    if (it != dirs_.end() && it->second.dir == dir) dirs_.erase(it);
  }
  std::unique_ptr<Dir> opened;
  Status s = env_->OpenDir(leaf_dir, &opened);
  if (!s.ok()) return s;  // NotFound: no leaf, so no chunk in it
  dir = std::move(opened);
  if (caching) {
    MutexLock lock(&mu_);
    if (dirs_.size() >= max_dirs_) dirs_.clear();  // bounded: forget, don't grow
    dirs_[leaf_dir] = Entry{dir, now_ns + ttl_ns_};
  }
  return op(dir.get());
}

Status LeafDirs::Stat(const ChunkLocation& loc, uint64_t now_ns, FileInfo* info) {
  return WithLeaf(loc.leaf_dir, now_ns, [&](Dir* dir) { return dir->Stat(loc.name, info); });
}

Status LeafDirs::OpenFile(const std::string& leaf_dir, const std::string& name, unsigned flags,
                          uint64_t now_ns, std::unique_ptr<File>* out) {
  return WithLeaf(leaf_dir, now_ns, [&](Dir* dir) { return dir->OpenFile(name, flags, out); });
}

size_t LeafDirs::size() {
  MutexLock lock(&mu_);
  return dirs_.size();
}

LeafEnv::LeafEnv(Env* base, LeafDirs* dirs, std::string ns_dir)
    : EnvWrapper(base), dirs_(dirs), ns_dir_(std::move(ns_dir)) {}

Status LeafEnv::OpenFile(const std::string& path, unsigned flags, std::unique_ptr<File>* out) {
  // Only ns/aa/bb/<name>: anything else (a namespace file) walks its path.
  const size_t leaf_len = ns_dir_.size() + 6;
  if (path.size() > leaf_len + 1 && path[leaf_len] == '/' &&
      path.compare(0, ns_dir_.size(), ns_dir_) == 0 && path[ns_dir_.size()] == '/' &&
      path[ns_dir_.size() + 3] == '/' && path.find('/', leaf_len + 1) == std::string::npos) {
    return dirs_->OpenFile(path.substr(0, leaf_len), path.substr(leaf_len + 1), flags,
                           target()->MonotonicNanos(), out);
  }
  return target()->OpenFile(path, flags, out);
}

}  // namespace kvtier
