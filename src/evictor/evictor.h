// Evictor: keeps a shared cache directory between two watermarks by
// deleting the least recently accessed chunks of this replica's share.
//
// One tick: an incremental scan of the share (Scanner), removal of stale
// temp files and empty fan-out directories, then, if usage reached the high
// mark (or is still above the low mark since it did), one eviction round:
// chunks leave in atime order, each re-checked by the Deleter, at most
// --max-delete-rate per second, until the round's budget is freed.
//
// Budget of a round (each replica decides alone; no coordinator):
//   filesystem mode:  (used - low * total) / replicas
//   --quota-bytes:    share_used - low * quota / replicas, where share_used
//                     is what this replica's scan found in its share
//                     plus its own removal-journal files (journal.h).
// Shares are hash-balanced, so N replicas together free the excess, each from
// its own oldest files; a replica stops its round early when the filesystem
// already reads at or below the low mark.
//
// Thread-safety: RunOnce/Run on one thread; Stop, RenderMetrics and healthy
// from any thread.
#ifndef KVTIER_SRC_EVICTOR_EVICTOR_H_
#define KVTIER_SRC_EVICTOR_EVICTOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "evictor/config.h"
#include "evictor/deleter.h"
#include "evictor/evictor_metrics.h"
#include "evictor/file_index.h"
#include "evictor/journal.h"
#include "evictor/json_log.h"
#include "evictor/pending_free.h"
#include "evictor/scanner.h"
#include "kvtier/env.h"
#include "kvtier/status.h"

namespace kvtier::evictor {

struct EvictorOptions {
  Config config;
  Env* env = nullptr;        // nullptr: Env::Default()
  Logger* logger = nullptr;  // nullptr: a private stderr logger
  // Set asynchronously (a signal handler); checked as often as Stop().
  const std::atomic<bool>* external_stop = nullptr;
  // Test hooks. before_recheck runs after a chunk is chosen and before it is
  // re-stat'ed; on_deleted after each successful unlink (relative paths).
  std::function<void(const std::string&)> before_recheck;
  std::function<void(const std::string&)> on_deleted;
};

struct Usage {
  uint64_t used = 0;
  uint64_t capacity = 0;
  double ratio() const { return capacity == 0 ? 0.0 : static_cast<double>(used) / capacity; }
};

class Evictor {
 public:
  // Validates the configuration and opens the root. Nothing is deleted here.
  static Status Open(const EvictorOptions& options, std::unique_ptr<Evictor>* out);
  ~Evictor();
  Evictor(const Evictor&) = delete;
  Evictor& operator=(const Evictor&) = delete;

  // One tick. Fails only when the root itself cannot be listed.
  Status RunOnce();
  // Ticks every poll interval until Stop() or the external stop flag.
  Status Run();
  void Stop();
  bool stopping() const;

  std::string RenderMetrics() const { return metrics_.Render(); }
  bool healthy() const { return healthy_.load(); }
  const EvictorMetrics& metrics() const { return metrics_; }
  const FileIndex& index() const { return index_; }
  // The scan alone (benchmarks).
  Status Scan(bool full, ScanResult* result);

 private:
  Evictor(const EvictorOptions& options, Env* env, Logger* logger, std::unique_ptr<Dir> root,
          uint64_t dev);

  // Quota mode: what the index counts under ROOT against this replica's
  // share of the quota.
  Usage QuotaUsage(const IndexTotals& totals) const;
  // Otherwise: the filesystem's own usage (statvfs of the root).
  Status FilesystemUsage(Usage* usage);
  void RemoveStale(const ScanResult& scan);
  // A tick's first steps: scans (full every --full-rescan-s), removes stale
  // entries and records both. Fails only when the root cannot be listed;
  // scan->stopped when asked to stop meanwhile.
  Status ScanTick(int64_t now_ns, ScanResult* scan);
  void SetIndexGauges(const IndexTotals& totals);
  void SetUsageGauges(const Usage& usage);
  // Above the high mark (or since it): one round with this replica's share
  // of the excess over the low mark as its budget; ends the episode once
  // usage reads at or below the low mark.
  void EvictExcess(const Usage& usage, bool starting);
  // Deletes least recently used chunks until `budget` bytes are freed (or
  // nothing is left to delete); returns the bytes freed.
  // Sets every_delete_failed_ when it tried to delete and none succeeded.
  uint64_t EvictRound(uint64_t budget);
  struct RoundTally {
    uint64_t freed = 0, deleted = 0, spared = 0, failed = 0;
  };
  // One candidate through the Deleter, counted and logged.
  void DeleteOne(const Candidate& c, RoundTally* tally);
  // Lists a deleted kvtier chunk ("<ns>/<aa>/<bb>/<name>") in the journal.
  void JournalRemoval(const std::string& path);
  // After each batch: flushes the journal when due and, in filesystem mode,
  // notes what was freed; true when usage already reads at or below the
  // low mark (other replicas may have done the rest).
  bool AfterBatch(uint64_t freed_in_batch);
  // Waits for the next deletion slot; false if asked to stop meanwhile.
  bool Throttle();
  // Sleeps up to `ns` nanoseconds; false if asked to stop.
  bool SleepFor(int64_t ns);
  DeletePolicy Policy() const;
  // Writes the removal journal's pending names (see journal.h).
  void FlushJournal();
  // Writes each kvtier namespace's chunks and bytes in this share for the
  // engines' usage gauges (journal.h).
  void WriteNamespaceUsage();

  const EvictorOptions options_;
  const Config& config_;
  Env* const env_;
  std::unique_ptr<Logger> own_logger_;
  Logger* logger_;
  std::unique_ptr<Dir> root_;  // opened through env_, so a test Env sees every call
  const uint64_t root_dev_;
  FileIndex index_;
  Scanner scanner_;
  Deleter deleter_;
  RemovalJournal journal_;
  uint64_t last_journal_flush_ns_ = 0;
  EvictorMetrics metrics_;

  PendingFree pending_;
  bool evicting_ = false;
  // The current (or last) eviction: this replica's share of the excess when
  // it started, and what it has deleted since (overshoot_bytes).
  uint64_t episode_needed_ = 0;
  uint64_t episode_deleted_ = 0;
  // --once exits non-zero on it: a CronJob must not report success when,
  // say, a non-root evictor cannot unlink anything.
  bool every_delete_failed_ = false;
  int64_t last_full_scan_ns_ = 0;
  uint64_t next_delete_ns_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<bool> healthy_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_EVICTOR_H_
