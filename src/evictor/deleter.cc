#include "evictor/deleter.h"

#include <algorithm>

#include "util/hash.h"

namespace kvtier::evictor {

Status Deleter::OpenDirChain(uint32_t dir, std::unique_ptr<Dir>* out) const {
  std::vector<std::string_view> parts = index_->Components(dir);
  if (parts.empty()) return Status::InvalidArgument("the root itself holds no chunks");
  std::unique_ptr<Dir> cur;
  Dir* at = root_;
  for (std::string_view p : parts) {
    std::unique_ptr<Dir> next;
    Status s = at->OpenDir(std::string(p), &next);
    if (!s.ok()) return s;
    cur = std::move(next);
    at = cur.get();
  }
  *out = std::move(cur);
  return Status::OK();
}

void Deleter::PrepareBatch(const std::vector<Candidate>& batch) {
  open_.clear();
  for (const Candidate& c : batch) {
    if (open_.count(c.dir) != 0) continue;
    OpenLeaf& leaf = open_[c.dir];
    leaf.status = OpenDirChain(c.dir, &leaf.dir);
    if (!leaf.status.ok()) continue;
    std::vector<DirEntry> entries;
    leaf.status = leaf.dir->List(&entries);
    if (!leaf.status.ok()) continue;
    const IndexedDir& d = index_->dir(c.dir);
    const std::string& fanout = index_->dir(d.parent).name;
    for (DirEntry& e : entries) {
      if (!IsChunkName(d.layout, fanout, d.name, e.name)) continue;
      leaf.names.emplace_back(Xxh3_64(e.name), std::move(e.name));
    }
    std::sort(leaf.names.begin(), leaf.names.end());
  }
}

Verdict Deleter::DeleteChunk(const Candidate& c, const DeletePolicy& policy, uint64_t* freed,
                             std::string* rel_path, Status* error) {
  *freed = 0;
  IndexedFile& f = index_->dir(c.dir).files[c.slot];
  if (f.gone()) return Verdict::kVanished;
  auto it = open_.find(c.dir);
  if (it == open_.end() || !it->second.status.ok()) {
    if (it != open_.end()) *error = it->second.status;
    if (error->IsNotFound()) {
      f.alloc = IndexedFile::kGone;
      return Verdict::kVanished;
    }
    return Verdict::kError;
  }
  OpenLeaf& leaf = it->second;
  auto n = std::lower_bound(leaf.names.begin(), leaf.names.end(),
                            std::make_pair(f.name_hash, std::string()));
  if (n == leaf.names.end() || n->first != f.name_hash) {
    f.alloc = IndexedFile::kGone;  // renamed away or deleted by someone else
    return Verdict::kVanished;
  }
  const std::string& name = n->second;
  *rel_path = index_->RelPath(c.dir) + "/" + name;
  if (before_recheck_) before_recheck_(*rel_path);

  FileInfo st;
  Status s = leaf.dir->Stat(name, &st);
  if (!s.ok() || !st.IsRegular() || st.dev != root_dev_) {
    f.alloc = IndexedFile::kGone;
    if (!s.ok() && !s.IsNotFound()) {
      *error = s;
      return Verdict::kError;
    }
    return Verdict::kVanished;
  }
  if (st.atime_ns != f.atime_ns) {
    // Read since the scan: it moves back in the LRU order instead.
    f.atime_ns = st.atime_ns;
    f.change_ns = ChangeNanos(st);
    return Verdict::kSparedHot;
  }
  if (ChangeNanos(st) > policy.now_ns - policy.min_age_ns) {
    f.change_ns = ChangeNanos(st);
    return Verdict::kSparedYoung;
  }
  if (!policy.dry_run) {
    s = leaf.dir->Unlink(name);
    if (!s.ok()) {
      if (s.IsNotFound()) {
        f.alloc = IndexedFile::kGone;
        return Verdict::kVanished;
      }
      *error = s;
      return Verdict::kError;
    }
  }
  f.alloc = IndexedFile::kGone;
  *freed = st.alloc_bytes;
  return Verdict::kDeleted;
}

bool Deleter::RemoveStale(const StaleEntry& e, const DeletePolicy& policy, Status* error) {
  std::unique_ptr<Dir> opened;
  Dir* dir = root_;
  if (e.dir != FileIndex::kRootDir) {
    Status s = OpenDirChain(e.dir, &opened);
    if (!s.ok()) {
      if (!s.IsNotFound()) *error = s;
      return false;
    }
    dir = opened.get();
  }
  const IndexedDir& d = index_->dir(e.dir);
  FileInfo st;
  if (!dir->Stat(e.name, &st).ok() || st.dev != root_dev_) return false;
  if (e.is_dir) {
    bool fanout = d.role == DirRole::kNamespace ? IsFanoutName(d.layout, e.name)
                                                : IsLeafName(d.layout, e.name);
    if (!fanout || !st.IsDirectory() || st.mtime_ns >= policy.now_ns - policy.dir_grace_ns) {
      return false;
    }
    if (policy.dry_run) return true;
    Status s = dir->RemoveDir(e.name);
    // ENOTEMPTY/EEXIST: a writer got there first, which is fine.
    if (!s.ok() && !s.IsNotFound() && s.err() != ENOTEMPTY && s.err() != EEXIST) *error = s;
    return s.ok();
  }
  if (!st.IsRegular() || !IsTempName(d.layout, e.name) ||
      ChangeNanos(st) >= policy.now_ns - policy.tmp_grace_ns) {
    return false;
  }
  if (policy.dry_run) return true;
  Status s = dir->Unlink(e.name);
  if (!s.ok() && !s.IsNotFound()) *error = s;
  return s.ok();
}

}  // namespace kvtier::evictor
