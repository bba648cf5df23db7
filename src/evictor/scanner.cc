#include "evictor/scanner.h"

#include <algorithm>

#include "env/walk.h"
#include "util/hash.h"

namespace kvtier::evictor {

namespace {

// A directory changed this recently may change again within the same mtime
// tick, so its listing cannot be trusted to stay current (git's "racy" rule).
constexpr int64_t kRacyWindowNs = 2LL * 1000 * 1000 * 1000;

}  // namespace

bool Scanner::Stopped() const {
  for (const std::atomic<bool>* f : {opt_->stop, opt_->stop_also}) {
    if (f != nullptr && f->load(std::memory_order_relaxed)) res_->stopped = true;
  }
  return res_->stopped;
}

void Scanner::NoteError(const std::string& what, const Status& s) {
  ++res_->errors;
  if (opt_->logger != nullptr) {
    opt_->logger->Warn("skipping directory", {{"path", what}, {"error", s.ToString()}});
  }
}

bool Scanner::OpenDir(Dir* parent, uint32_t parent_id, const std::string& name,
                      std::unique_ptr<Dir>* out) {
  Status s;
  if (OpenForWalk(parent, name, out, &s)) {
    ++res_->dirs_listed;
    return true;
  }
  if (!s.ok()) {
    std::string rel = index_->RelPath(parent_id);
    NoteError(rel.empty() ? name : rel + "/" + name, s);
  }
  return false;
}

Status Scanner::Scan(const ScanOptions& options, ScanResult* result) {
  opt_ = &options;
  res_ = result;
  *result = ScanResult();
  std::vector<DirEntry> entries;
  Status s = root_->List(&entries);
  if (!s.ok()) return s;
  ++res_->dirs_listed;
  std::vector<std::string_view> keep;
  index_->dir(FileIndex::kRootDir).other_bytes = 0;
  for (const DirEntry& e : entries) {
    if (Stopped()) return Status::OK();
    if (MaybeRegularFile(e.type) && options.replica_index == 0) {
      FileInfo st;
      if (root_->Stat(e.name, &st).ok() && st.IsRegular()) {
        index_->dir(FileIndex::kRootDir).other_bytes += st.alloc_bytes;
        continue;
      }
    }
    if (!MaybeDirectory(e.type)) continue;
    LayoutKind layout = IsVllmNamespaceName(e.name)     ? LayoutKind::kVllm
                        : IsKvtierNamespaceName(e.name) ? LayoutKind::kKvtier
                                                        : LayoutKind::kNone;
    if (layout == LayoutKind::kNone) continue;
    std::unique_ptr<Dir> dir;
    if (!OpenDir(root_, FileIndex::kRootDir, e.name, &dir)) continue;
    if (layout == LayoutKind::kKvtier) {
      FileInfo fp;
      // Without its fingerprint.json a directory is not (yet) a kvtier
      // namespace, whatever its name says.
      if (!dir->Stat("fingerprint.json", &fp).ok() || !fp.IsRegular()) continue;
    }
    uint32_t ns = index_->FindOrAddChild(FileIndex::kRootDir, e.name, DirRole::kNamespace, layout);
    keep.push_back(e.name);
    ScanNamespace(ns, dir.get());
  }
  if (!Stopped()) {
    std::sort(keep.begin(), keep.end());
    index_->RetainChildren(FileIndex::kRootDir, keep);
  }
  return Status::OK();
}

void Scanner::ScanNamespace(uint32_t ns, Dir* dir) {
  std::vector<DirEntry> entries;
  Status s = dir->List(&entries);
  if (!s.ok()) return NoteError(index_->RelPath(ns), s);
  const LayoutKind layout = index_->dir(ns).layout;
  index_->dir(ns).other_bytes = 0;
  std::vector<std::string_view> keep;
  for (const DirEntry& e : entries) {
    if (Stopped()) return;
    if (MaybeDirectory(e.type) && IsFanoutName(layout, e.name)) {
      if (ShareOf(layout, e.name, opt_->replicas) != opt_->replica_index) continue;
      std::unique_ptr<Dir> child;
      if (!OpenDir(dir, ns, e.name, &child)) continue;
      uint32_t fan = index_->FindOrAddChild(ns, e.name, DirRole::kFanout, layout);
      keep.push_back(e.name);
      ScanFanout(fan, child.get());
      continue;
    }
    // Namespace-level files (fingerprint.json, its temps, vLLM's O_DIRECT
    // probe) belong to replica 0.
    if (!MaybeRegularFile(e.type) || opt_->replica_index != 0) continue;
    FileInfo st;
    if (!dir->Stat(e.name, &st).ok() || !st.IsRegular()) continue;
    ++res_->files_stated;
    index_->dir(ns).other_bytes += st.alloc_bytes;
    if (IsTempName(layout, e.name)) {
      if (ChangeNanos(st) < opt_->now_ns - opt_->tmp_grace_ns) {
        res_->stale.push_back(StaleEntry{ns, e.name, false});
      }
    }
  }
  std::sort(keep.begin(), keep.end());
  index_->RetainChildren(ns, keep);
}

void Scanner::ScanFanout(uint32_t fan, Dir* dir) {
  std::vector<DirEntry> entries;
  Status s = dir->List(&entries);
  if (!s.ok()) return NoteError(index_->RelPath(fan), s);
  const LayoutKind layout = index_->dir(fan).layout;
  index_->dir(fan).other_bytes = 0;
  std::vector<std::string_view> keep;
  for (const DirEntry& e : entries) {
    if (Stopped()) return;
    if (MaybeDirectory(e.type) && IsLeafName(layout, e.name)) {
      uint32_t leaf = index_->FindOrAddChild(fan, e.name, DirRole::kLeaf, layout);
      keep.push_back(e.name);
      ScanLeaf(leaf, dir);
      continue;
    }
    if (!MaybeRegularFile(e.type)) continue;
    FileInfo st;
    if (!dir->Stat(e.name, &st).ok() || !st.IsRegular()) continue;
    ++res_->files_stated;
    index_->dir(fan).other_bytes += st.alloc_bytes;
    if (IsTempName(layout, e.name) && ChangeNanos(st) < opt_->now_ns - opt_->tmp_grace_ns) {
      res_->stale.push_back(StaleEntry{fan, e.name, false});
    }
  }
  std::sort(keep.begin(), keep.end());
  index_->RetainChildren(fan, keep);
  if (entries.empty()) {
    FileInfo st;
    if (dir->StatSelf(&st).ok() && st.mtime_ns < opt_->now_ns - opt_->dir_grace_ns) {
      const IndexedDir& d = index_->dir(fan);
      res_->stale.push_back(StaleEntry{d.parent, d.name, true});
    }
  }
}

void Scanner::ScanLeaf(uint32_t leaf, Dir* parent) {
  const std::string name = index_->dir(leaf).name;
  FileInfo dst;
  if (!parent->Stat(name, &dst).ok() || !dst.IsDirectory()) return;
  {
    const IndexedDir& d = index_->dir(leaf);
    if (!opt_->full && !d.revisit && d.listed_mtime_ns == dst.mtime_ns) {
      ++res_->dirs_skipped;
      return;
    }
  }
  std::unique_ptr<Dir> dir;
  if (!OpenDir(parent, index_->dir(leaf).parent, name, &dir)) return;
  std::vector<DirEntry> entries;
  Status s = dir->List(&entries);
  if (!s.ok()) return NoteError(index_->RelPath(leaf), s);

  const LayoutKind layout = index_->dir(leaf).layout;
  const std::string& fanout = index_->dir(index_->dir(leaf).parent).name;
  bool revisit = dst.mtime_ns >= opt_->now_ns - kRacyWindowNs;
  uint64_t other = 0;
  std::vector<IndexedFile> files;
  files.reserve(entries.size());
  for (const DirEntry& e : entries) {
    if (!MaybeRegularFile(e.type)) continue;  // symlinks, subdirectories, sockets: foreign
    FileInfo st;
    if (!dir->Stat(e.name, &st).ok() || !st.IsRegular()) continue;
    ++res_->files_stated;
    if (IsChunkName(layout, fanout, name, e.name)) {
      files.push_back(IndexedFile{Xxh3_64(e.name), st.atime_ns, ChangeNanos(st), st.alloc_bytes});
      continue;
    }
    other += st.alloc_bytes;
    if (IsTempName(layout, e.name)) {
      if (ChangeNanos(st) < opt_->now_ns - opt_->tmp_grace_ns) {
        res_->stale.push_back(StaleEntry{leaf, e.name, false});
      } else {
        revisit = true;  // not stale yet; look again next pass
      }
    }
  }
  if (entries.empty()) {
    if (dst.mtime_ns < opt_->now_ns - opt_->dir_grace_ns) {
      res_->stale.push_back(StaleEntry{index_->dir(leaf).parent, name, true});
    } else {
      revisit = true;
    }
  }
  if (files.capacity() > files.size() + files.size() / 4 + 4) files.shrink_to_fit();
  IndexedDir& d = index_->dir(leaf);
  d.files.swap(files);
  d.other_bytes = other;
  d.listed_mtime_ns = dst.mtime_ns;
  d.revisit = revisit;
}

}  // namespace kvtier::evictor
