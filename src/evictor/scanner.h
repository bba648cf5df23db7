// Scanner: one incremental pass over this replica's share of the tree,
// bringing the FileIndex up to date.
//
// Upper levels (root, namespaces, first-level fan-out) are listed on every
// pass; they are few. A leaf directory is listed again, and its files
// stat'ed, only when its mtime changed (a chunk was added, renamed or
// removed), when it asked to be revisited, or on a full pass. Atimes of
// files in unchanged leaves may therefore be stale; that is safe because the
// deleter re-stats every file right before unlinking it and spares any whose
// atime moved.
//
// The root and namespace directories are listed on the calling thread; each
// fan-out directory below them is a task (FanoutScan) for a pool of
// `threads` scanner threads, at most 2 x threads tasks (and their results)
// held at once. Results are applied to the index in the order the tasks
// were made, so the index and the stale list do not depend on the thread
// count or timing.
//
// The scanner deletes nothing. It reports stale temp files and empty
// fan-out directories old enough to remove; the Deleter removes them after
// checking them again.
#ifndef KVTIER_SRC_EVICTOR_SCANNER_H_
#define KVTIER_SRC_EVICTOR_SCANNER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "evictor/fanout_scan.h"
#include "evictor/file_index.h"
#include "evictor/json_log.h"
#include "kvtier/env.h"
#include "kvtier/status.h"

namespace kvtier::evictor {

// The clock of --min-age and the grace periods: the last write (mtime).
// Not ctime: refreshing a chunk's atime with utimensat (what readers do on
// noatime mounts) also moves its ctime, which would make every recently
// read chunk look freshly written; recency of reads is atime's job.
inline int64_t ChangeNanos(const FileInfo& st) { return st.mtime_ns; }

struct ScanOptions {
  int replicas = 1;
  int replica_index = 0;
  int64_t now_ns = 0;  // wall clock at the start of the pass
  int64_t tmp_grace_ns = 0;
  int64_t dir_grace_ns = 0;
  bool full = false;  // list every leaf regardless of its mtime
  int threads = 1;    // scanner threads; 1 scans on the calling thread
  const std::atomic<bool>* stop = nullptr;
  const std::atomic<bool>* stop_also = nullptr;  // e.g. a signal flag
  Logger* logger = nullptr;
};

// A removable non-chunk entry found by the scan: a stale temp file, or an
// empty fan-out directory (name names a subdirectory of `dir`).
struct StaleEntry {
  uint32_t dir;
  std::string name;
  bool is_dir;
};

struct ScanResult {
  uint64_t dirs_listed = 0;
  uint64_t dirs_skipped = 0;  // unchanged leaves
  uint64_t files_stated = 0;
  uint64_t errors = 0;  // directories that could not be opened or listed
  bool stopped = false;
  std::vector<StaleEntry> stale;
};

class Scanner {
 public:
  // `root` is the open cache root; its Dir refuses symlinks and other
  // filesystems below it (Dir::OpenDir).
  Scanner(Dir* root, FileIndex* index) : root_(root), index_(index) {}

  Status Scan(const ScanOptions& options, ScanResult* result);

 private:
  struct Namespace;
  class Pool;

  void ScanNamespace(Namespace* ns, Pool* pool);
  void Apply(Namespace* ns, const FanoutTask& task, FanoutResult* result);
  bool Stopped() const;
  void NoteError(const std::string& what, const Status& s);

  Dir* const root_;
  FileIndex* index_;
  const ScanOptions* opt_ = nullptr;
  ScanResult* res_ = nullptr;
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_SCANNER_H_
