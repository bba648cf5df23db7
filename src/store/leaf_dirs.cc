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

// Parent handles only where the share leaves at least as many for leaves.
size_t ParentShare(size_t share, size_t max_parents) {
  return share >= 2 * max_parents ? max_parents : 0;
}

}  // namespace

LeafDirs::LeafDirs(Env* env, int64_t ttl_ns, size_t max_dirs, size_t max_parents)
    : LeafDirs(Split{}, env, ttl_ns > 0 ? static_cast<uint64_t>(ttl_ns) : 0,
               ttl_ns > 0 ? DescriptorShare(max_dirs) : 0, max_parents) {}

LeafDirs::LeafDirs(Split, Env* env, uint64_t ttl_ns, size_t share, size_t max_parents)
    : env_(env),
      ttl_ns_(ttl_ns),
      parent_max_(ParentShare(share, max_parents)),
      leaf_max_(share - parent_max_) {}

std::shared_ptr<Dir> LeafDirs::Held(bool parent, const std::string& dir, uint64_t now_ns) {
  if (!Caching()) return nullptr;
  MutexLock lock(&mu_);
  Table& t = Pick(parent);
  auto it = t.find(dir);
  if (it == t.end()) return nullptr;
  if (it->second.expires_ns > now_ns) return it->second.dir;
  t.erase(it);
  return nullptr;
}

void LeafDirs::Keep(bool parent, const std::string& dir, std::shared_ptr<Dir> handle,
                    uint64_t now_ns) {
  const size_t max = parent ? parent_max_ : leaf_max_;
  if (max == 0) return;
  Table full;  // bounded: a full table is forgotten, not grown (closed unlocked)
  MutexLock lock(&mu_);
  Table& t = Pick(parent);
  if (t.size() >= max) t.swap(full);
  t[dir] = Entry{std::move(handle), now_ns + ttl_ns_};
}

void LeafDirs::Forget(bool parent, const std::string& dir, const std::shared_ptr<Dir>& handle) {
  MutexLock lock(&mu_);
  Table& t = Pick(parent);
  auto it = t.find(dir);
  if (it != t.end() && it->second.dir == handle) t.erase(it);
}

bool LeafDirs::Shed() {
  Table leaves, parents;  // closed once the lock is released
  MutexLock lock(&mu_);
  leaves_.swap(leaves);
  parents_.swap(parents);
  return !leaves.empty() || !parents.empty();
}

Status LeafDirs::OpenLeaf(const std::string& leaf_dir, uint64_t now_ns, std::unique_ptr<Dir>* out) {
  const size_t slash = leaf_dir.rfind('/');
  if (parent_max_ == 0 || slash == std::string::npos) return env_->OpenDir(leaf_dir, out);
  const std::string parent_dir = leaf_dir.substr(0, slash);
  std::shared_ptr<Dir> parent = Held(true, parent_dir, now_ns);
  if (parent == nullptr) {
    std::unique_ptr<Dir> opened;
    Status s = env_->OpenDir(parent_dir, &opened);
    if (!s.ok()) return s;  // NotFound: no fan-out directory, so no leaf
    parent = std::move(opened);
    Keep(true, parent_dir, parent, now_ns);
  }
  Status s = parent->OpenDirHandle(leaf_dir.substr(slash + 1), out);
  // No leaf, or no directory there (a file, a link, a mount point): the
  // parent is fine and the answer the same by path.
  const int err = s.err();
  if (s.ok() || s.IsNotFound() || err == ENOTDIR || err == ELOOP || err == EXDEV) return s;
  // ESTALE, say, or out of descriptors: by path, as without a parent, and
  // without holding this handle meanwhile.
  Forget(true, parent_dir, parent);
  parent.reset();
  return env_->OpenDir(leaf_dir, out);
}

template <class Op>
Status LeafDirs::WithLeaf(const std::string& leaf_dir, uint64_t now_ns, Op op) {
  std::shared_ptr<Dir> dir = Held(false, leaf_dir, now_ns);
  if (dir != nullptr) {
    Status s = op(dir.get());
    if (s.ok() || s.IsNotFound()) return s;
    Forget(false, leaf_dir, dir);
  }
  // Out of descriptors (the engine's own files count too): the held handles
  // are given back and the call is made once more.
  std::unique_ptr<Dir> opened;
  Status s = OpenLeaf(leaf_dir, now_ns, &opened);
  if (OutOfDescriptors(s) && Shed()) s = OpenLeaf(leaf_dir, now_ns, &opened);
  if (!s.ok()) return s;  // NotFound: no leaf, so no chunk in it
  dir = std::move(opened);
  Keep(false, leaf_dir, dir, now_ns);
  s = op(dir.get());
  if (OutOfDescriptors(s)) {
    Shed();  // `dir` stays open: this call holds it
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
  return leaves_.size() + parents_.size();
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
