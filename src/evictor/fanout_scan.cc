#include "evictor/fanout_scan.h"

#include <algorithm>
#include <memory>

#include "env/walk.h"
#include "evictor/layout_rules.h"
#include "evictor/scanner.h"
#include "util/hash.h"

namespace kvtier::evictor {

namespace {

// A directory changed this recently may change again within the same mtime
// tick, so its listing cannot be trusted to stay current (git's "racy" rule).
constexpr int64_t kRacyWindowNs = 2LL * 1000 * 1000 * 1000;

bool Stopped(const FanoutTask& t) {
  for (const std::atomic<bool>* f : {t.stop, t.stop_also}) {
    if (f != nullptr && f->load(std::memory_order_relaxed)) return true;
  }
  return false;
}

const LeafSnapshot* FindLeaf(const FanoutTask& t, const std::string& name) {
  auto it =
      std::lower_bound(t.leaves.begin(), t.leaves.end(), name,
                       [](const LeafSnapshot& l, const std::string& n) { return l.name < n; });
  return it != t.leaves.end() && it->name == name ? &*it : nullptr;
}

// Opens `name` below `parent`; a failure other than "not part of the tree"
// is recorded under `rel`.
bool Open(Dir* parent, const std::string& name, const std::string& rel, FanoutResult* res,
          std::unique_ptr<Dir>* out) {
  Status s;
  if (OpenForWalk(parent, name, out, &s)) {
    ++res->dirs_listed;
    return true;
  }
  if (!s.ok()) res->errors.emplace_back(rel, s);
  return false;
}

void ScanLeaf(const FanoutTask& t, Dir* fan, FanoutResult* res, LeafResult* leaf) {
  FileInfo dst;
  if (!fan->Stat(leaf->name, &dst).ok() || !dst.IsDirectory()) return;
  const LeafSnapshot* known = FindLeaf(t, leaf->name);
  if (!t.full && known != nullptr && !known->revisit && known->listed_mtime_ns == dst.mtime_ns) {
    ++res->dirs_skipped;
    return;
  }
  std::unique_ptr<Dir> dir;
  if (!Open(fan, leaf->name, leaf->name, res, &dir)) return;
  std::vector<DirEntry> entries;
  Status s = dir->List(&entries);
  if (!s.ok()) {
    res->errors.emplace_back(leaf->name, s);
    return;
  }
  bool revisit = dst.mtime_ns >= t.now_ns - kRacyWindowNs;
  leaf->files.reserve(entries.size());
  for (const DirEntry& e : entries) {
    if (!MaybeRegularFile(e.type)) continue;  // symlinks, subdirectories, sockets: foreign
    FileInfo st;
    if (!dir->Stat(e.name, &st).ok() || !st.IsRegular()) continue;
    ++res->files_stated;
    if (IsChunkName(t.layout, t.name, leaf->name, e.name)) {
      leaf->files.push_back(
          IndexedFile{Xxh3_64(e.name), st.atime_ns, ChangeNanos(st), st.alloc_bytes});
      continue;
    }
    leaf->other_bytes += st.alloc_bytes;
    if (IsTempName(t.layout, e.name)) {
      if (ChangeNanos(st) < t.now_ns - t.tmp_grace_ns) {
        leaf->stale_tmp.push_back(e.name);
      } else {
        revisit = true;  // not stale yet; look again next pass
      }
    }
  }
  if (entries.empty()) {
    if (dst.mtime_ns < t.now_ns - t.dir_grace_ns) {
      leaf->stale_self = true;
    } else {
      revisit = true;
    }
  }
  if (leaf->files.capacity() > leaf->files.size() + leaf->files.size() / 4 + 4) {
    leaf->files.shrink_to_fit();
  }
  leaf->listed = true;
  leaf->mtime_ns = dst.mtime_ns;
  leaf->revisit = revisit;
}

}  // namespace

void ScanFanout(const FanoutTask& t, FanoutResult* res) {
  *res = FanoutResult();
  std::unique_ptr<Dir> dir;
  if (!Open(t.ns_dir, t.name, "", res, &dir)) return;
  res->opened = true;
  std::vector<DirEntry> entries;
  Status s = dir->List(&entries);
  if (!s.ok()) {
    res->errors.emplace_back("", s);
    return;
  }
  for (const DirEntry& e : entries) {
    if (Stopped(t)) return;
    if (MaybeDirectory(e.type) && IsLeafName(t.layout, e.name)) {
      res->leaves.emplace_back();
      res->leaves.back().name = e.name;
      ScanLeaf(t, dir.get(), res, &res->leaves.back());
      continue;
    }
    if (!MaybeRegularFile(e.type)) continue;
    FileInfo st;
    if (!dir->Stat(e.name, &st).ok() || !st.IsRegular()) continue;
    ++res->files_stated;
    res->other_bytes += st.alloc_bytes;
    if (IsTempName(t.layout, e.name) && ChangeNanos(st) < t.now_ns - t.tmp_grace_ns) {
      res->stale_tmp.push_back(e.name);
    }
  }
  if (entries.empty()) {
    FileInfo st;
    res->stale_self = dir->StatSelf(&st).ok() && st.mtime_ns < t.now_ns - t.dir_grace_ns;
  }
  res->complete = true;
}

}  // namespace kvtier::evictor
