#include "evictor/scanner.h"

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>

#include "env/walk.h"
#include "util/mutex.h"

namespace kvtier::evictor {

// A namespace being scanned: its open directory (which its fan-out tasks
// open their directories from) and the fan-outs that turned out to be part
// of the tree, retained once every task of the namespace was applied.
struct Scanner::Namespace {
  uint32_t id = 0;
  std::unique_ptr<Dir> dir;
  std::vector<std::string> keep;
};

// Runs fan-out tasks on `threads` threads and hands their results to
// Scanner::Apply on the calling thread, in submission order. With one
// thread there is no pool: each task runs and is applied as submitted.
class Scanner::Pool {
 public:
  Pool(Scanner* scanner, int threads)
      : scanner_(scanner), limit_(2 * static_cast<size_t>(std::max(threads, 1))) {
    for (int i = 0; threads > 1 && i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~Pool() {
    {
      MutexLock l(&mu_);
      quit_ = true;
    }
    work_cv_.SignalAll();
    for (std::thread& t : workers_) t.join();
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  void Submit(Namespace* ns, FanoutTask task) {
    if (workers_.empty()) {
      FanoutResult r;
      ScanFanout(task, &r);
      scanner_->Apply(ns, task, &r);
      return;
    }
    // Memory stays bounded: a result holds one fan-out's files until applied.
    while (Pending() >= limit_) ApplyFront();
    {
      MutexLock l(&mu_);
      window_.push_back(Slot{ns, std::move(task), FanoutResult(), false});
      todo_.push_back(&window_.back());
    }
    work_cv_.Signal();
  }

  void Drain() {
    while (Pending() > 0) ApplyFront();
  }

 private:
  struct Slot {
    Namespace* ns;
    FanoutTask task;
    FanoutResult result;
    bool done;
  };

  size_t Pending() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return window_.size();
  }

  void ApplyFront() EXCLUDES(mu_) {
    Slot* s;
    {
      MutexLock l(&mu_);
      while (!window_.front().done) done_cv_.Wait(&mu_);
      s = &window_.front();
    }
    // No worker touches a finished slot, and only this thread pops.
    scanner_->Apply(s->ns, s->task, &s->result);
    MutexLock l(&mu_);
    window_.pop_front();
  }

  void Work() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    for (;;) {
      while (!quit_ && todo_.empty()) work_cv_.Wait(&mu_);
      if (todo_.empty()) return;
      Slot* s = todo_.front();
      todo_.pop_front();
      l.Unlock();
      ScanFanout(s->task, &s->result);
      l.Lock();
      s->done = true;
      done_cv_.SignalAll();
    }
  }

  Scanner* const scanner_;
  const size_t limit_;
  Mutex mu_;
  CondVar work_cv_;
  CondVar done_cv_;
  // deque: push_back and pop_front leave the other slots where they are.
  std::deque<Slot> window_ GUARDED_BY(mu_);
  std::deque<Slot*> todo_ GUARDED_BY(mu_);
  bool quit_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

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

Status Scanner::Scan(const ScanOptions& options, ScanResult* result) {
  opt_ = &options;
  res_ = result;
  *result = ScanResult();
  std::vector<DirEntry> entries;
  Status s = root_->List(&entries);
  if (!s.ok()) return s;
  ++res_->dirs_listed;
  std::vector<std::string_view> keep;
  std::vector<std::unique_ptr<Namespace>> namespaces;
  index_->dir(FileIndex::kRootDir).other_bytes = 0;
  {
    Pool pool(this, options.threads);
    for (const DirEntry& e : entries) {
      if (Stopped()) break;
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
      auto ns = std::make_unique<Namespace>();
      Status err;
      if (!OpenForWalk(root_, e.name, &ns->dir, &err)) {
        if (!err.ok()) NoteError(e.name, err);
        continue;
      }
      ++res_->dirs_listed;
      if (layout == LayoutKind::kKvtier) {
        FileInfo fp;
        // Without its fingerprint.json a directory is not (yet) a kvtier
        // namespace, whatever its name says.
        if (!ns->dir->Stat("fingerprint.json", &fp).ok() || !fp.IsRegular()) continue;
      }
      ns->id = index_->FindOrAddChild(FileIndex::kRootDir, e.name, DirRole::kNamespace, layout);
      keep.push_back(e.name);
      namespaces.push_back(std::move(ns));
      ScanNamespace(namespaces.back().get(), &pool);
    }
    pool.Drain();
  }
  if (Stopped()) return Status::OK();
  for (const auto& ns : namespaces) {
    std::vector<std::string_view> fans(ns->keep.begin(), ns->keep.end());
    std::sort(fans.begin(), fans.end());
    index_->RetainChildren(ns->id, fans);
  }
  std::sort(keep.begin(), keep.end());
  index_->RetainChildren(FileIndex::kRootDir, keep);
  return Status::OK();
}

void Scanner::ScanNamespace(Namespace* ns, Pool* pool) {
  std::vector<DirEntry> entries;
  Status s = ns->dir->List(&entries);
  if (!s.ok()) {
    // Keep what the index knew of it, as for any unreadable directory.
    for (uint32_t c : index_->dir(ns->id).children) ns->keep.push_back(index_->dir(c).name);
    return NoteError(index_->RelPath(ns->id), s);
  }
  const LayoutKind layout = index_->dir(ns->id).layout;
  index_->dir(ns->id).other_bytes = 0;
  for (const DirEntry& e : entries) {
    if (Stopped()) return;
    if (MaybeDirectory(e.type) && IsFanoutName(layout, e.name)) {
      if (ShareOf(layout, e.name, opt_->replicas) != opt_->replica_index) continue;
      FanoutTask t;
      t.ns_dir = ns->dir.get();
      t.name = e.name;
      t.layout = layout;
      t.now_ns = opt_->now_ns;
      t.tmp_grace_ns = opt_->tmp_grace_ns;
      t.dir_grace_ns = opt_->dir_grace_ns;
      t.full = opt_->full;
      t.stop = opt_->stop;
      t.stop_also = opt_->stop_also;
      uint32_t fan = index_->FindChild(ns->id, e.name);
      if (fan != kNoDir) {
        for (uint32_t c : index_->dir(fan).children) {
          const IndexedDir& d = index_->dir(c);
          t.leaves.push_back(LeafSnapshot{d.name, d.listed_mtime_ns, d.revisit});
        }
      }
      pool->Submit(ns, std::move(t));
      continue;
    }
    // Namespace-level files (fingerprint.json, its temps, vLLM's O_DIRECT
    // probe) belong to replica 0.
    if (!MaybeRegularFile(e.type) || opt_->replica_index != 0) continue;
    FileInfo st;
    if (!ns->dir->Stat(e.name, &st).ok() || !st.IsRegular()) continue;
    ++res_->files_stated;
    index_->dir(ns->id).other_bytes += st.alloc_bytes;
    if (IsTempName(layout, e.name)) {
      if (ChangeNanos(st) < opt_->now_ns - opt_->tmp_grace_ns) {
        res_->stale.push_back(StaleEntry{ns->id, e.name, false});
      }
    }
  }
}

void Scanner::Apply(Namespace* ns, const FanoutTask& task, FanoutResult* result) {
  FanoutResult& r = *result;
  res_->dirs_listed += r.dirs_listed;
  res_->dirs_skipped += r.dirs_skipped;
  res_->files_stated += r.files_stated;
  const std::string ns_path = index_->RelPath(ns->id);
  for (const auto& [rel, err] : r.errors) {
    NoteError(ns_path + "/" + task.name + (rel.empty() ? "" : "/" + rel), err);
  }
  if (!r.opened) return;
  ns->keep.push_back(task.name);
  uint32_t fan = index_->FindOrAddChild(ns->id, task.name, DirRole::kFanout, task.layout);
  if (!r.complete) return;  // stopped, or the listing failed: leave the rest as it was
  index_->dir(fan).other_bytes = r.other_bytes;
  std::vector<std::string_view> keep;
  keep.reserve(r.leaves.size());
  for (LeafResult& l : r.leaves) {
    uint32_t leaf = index_->FindOrAddChild(fan, l.name, DirRole::kLeaf, task.layout);
    keep.push_back(l.name);
    for (const std::string& n : l.stale_tmp) res_->stale.push_back(StaleEntry{leaf, n, false});
    if (l.stale_self) res_->stale.push_back(StaleEntry{fan, l.name, true});
    if (!l.listed) continue;
    IndexedDir& d = index_->dir(leaf);
    d.files.swap(l.files);
    d.other_bytes = l.other_bytes;
    d.listed_mtime_ns = l.mtime_ns;
    d.revisit = l.revisit;
  }
  for (const std::string& n : r.stale_tmp) res_->stale.push_back(StaleEntry{fan, n, false});
  std::sort(keep.begin(), keep.end());
  index_->RetainChildren(fan, keep);
  if (r.stale_self) res_->stale.push_back(StaleEntry{ns->id, task.name, true});
}

}  // namespace kvtier::evictor
