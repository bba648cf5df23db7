#include "store/leaf_dirs.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace kvtier {

namespace {

// At most an eighth of the process's descriptor limit: the engine (and
// other stores in it) need the rest. A process at the common soft limit of
// 1,024 gets 128 handles per store.
size_t DescriptorShare(size_t max_dirs) {
  struct rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return max_dirs;
  return std::min<size_t>(max_dirs, lim.rlim_cur / 8);
}

bool OutOfDescriptors(const Status& s) { return s.err() == EMFILE || s.err() == ENFILE; }

}  // namespace

LeafDirs::LeafDirs(Env* env, int64_t ttl_ns, size_t max_dirs)
    : env_(env),
      ttl_ns_(ttl_ns > 0 ? static_cast<uint64_t>(ttl_ns) : 0),
      max_dirs_(DescriptorShare(max_dirs)) {}

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
  // Out of descriptors (the engine's own files count too): the held handles
  // are given back and the call is made once more.
  auto shed = [&] {
    MutexLock lock(&mu_);
    const bool held = !dirs_.empty();
    dirs_.clear();
    return held;
  };
  std::unique_ptr<Dir> opened;
  Status s = env_->OpenDir(leaf_dir, &opened);
  if (OutOfDescriptors(s) && shed()) s = env_->OpenDir(leaf_dir, &opened);
  if (!s.ok()) return s;  // NotFound: no leaf, so no chunk in it
  dir = std::move(opened);
  if (caching) {
    MutexLock lock(&mu_);
    if (dirs_.size() >= max_dirs_) dirs_.clear();  // bounded: forget, don't grow
    dirs_[leaf_dir] = Entry{dir, now_ns + ttl_ns_};
  }
  s = op(dir.get());
  if (OutOfDescriptors(s)) {
    shed();  // `dir` stays open: this call holds it
    s = op(dir.get());
  }
  return s;
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
