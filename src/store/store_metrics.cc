#include "store/store_metrics.h"

namespace kvtier {

StoreMetrics::StoreMetrics()
    : gets(registry.AddCounter("gets_total", "Chunk loads attempted")),
      get_hits(registry.AddCounter("get_hits_total", "Chunk loads served verified")),
      get_misses(registry.AddCounter("get_misses_total", "Chunk loads that found no chunk")),
      get_errors(registry.AddCounter("get_errors_total", "Chunk loads failed by I/O errors")),
      bytes_read(registry.AddCounter("read_bytes_total", "Payload bytes loaded and verified")),
      puts(registry.AddCounter("puts_total", "Chunk stores requested")),
      puts_stored(registry.AddCounter("puts_stored_total", "Chunks published")),
      puts_existing(registry.AddCounter("puts_existing_total", "Stores skipped: already there")),
      puts_dropped(registry.AddCounter("puts_dropped_total", "Stores dropped: write queue full")),
      put_errors(registry.AddCounter("put_errors_total", "Stores failed by I/O errors")),
      bytes_written(registry.AddCounter("written_bytes_total", "Payload bytes published")),
      lookups(registry.AddCounter("lookups_total", "Existence checks")),
      lookup_hits(registry.AddCounter("lookup_hits_total", "Existence checks that found a chunk")),
      lookup_cache_hits(
          registry.AddCounter("lookup_cache_hits_total", "Existence checks served from cache")),
      lookup_errors(registry.AddCounter("lookup_errors_total", "Existence checks that failed")),
      touches(registry.AddCounter("touches_total", "Access-time refreshes")),
      corrupt_removed(registry.AddCounter("corrupt_removed_total", "Bad chunk files removed")),
      jobs_rejected(
          registry.AddCounter("jobs_rejected_total", "Jobs refused: too many pending jobs")),
      fingerprint_repaired(registry.AddCounter("fingerprint_repaired_total",
                                               "Unreadable fingerprint.json files rewritten")),
      jobs_timed_out(
          registry.AddCounter("jobs_timed_out_total", "Jobs completed by their I/O deadline")),
      late_completions(registry.AddCounter(
          "late_completions_total",
          "Chunk operations that returned after their job's deadline (result discarded)")),
      namespace_conflict(registry.AddGauge("namespace_conflict",
                                           "1 when fingerprint.json names another fingerprint")),
      read_queue_depth(registry.AddGauge("read_queue_depth", "Read tasks queued")),
      write_queue_depth(registry.AddGauge("write_queue_depth", "Write tasks queued")),
      write_queue_bytes(registry.AddGauge("write_queue_bytes", "Payload bytes queued for writing")),
      pending_jobs(registry.AddGauge("pending_jobs", "Jobs submitted and not yet collected")),
      workers(registry.AddGauge("workers", "I/O worker threads alive")),
      stalled_workers(registry.AddGauge(
          "stalled_workers", "Workers inside one chunk operation for longer than the deadline")),
      staging_bytes(registry.AddGauge("staging_bytes", "Bytes of workers' read staging buffers")),
      get_latency(registry.AddHistogram("get_seconds", "Per-chunk load latency")),
      put_latency(registry.AddHistogram("put_seconds", "Per-chunk store latency")),
      lookup_latency(registry.AddHistogram("lookup_seconds", "Per-key existence check latency")) {
  static constexpr std::array<const char*, 3> kOps = {"put", "get", "contains"};  // JobKind order
  for (size_t i = 0; i < kOps.size(); ++i) {
    io_timeouts.at(i) =
        registry.AddCounter("io_timeouts_total", "Keys failed because their job's deadline passed",
                            std::string("op=\"") + kOps.at(i) + "\"");
  }
  static constexpr std::array<const char*, 2> kInvalid = {"key_too_long", "payload_too_large"};
  for (size_t i = 0; i < kInvalid.size(); ++i) {
    puts_invalid.at(i) = registry.AddCounter(
        "puts_invalid_total", "Stores refused: key or payload beyond the format's limits",
        std::string("reason=\"") + kInvalid.at(i) + "\"");
  }
  for (int i = 1; i < kNumVerifyErrors; ++i) {
    verify_failures[i] = registry.AddCounter(
        "verify_failures_total", "Chunk files rejected by verification",
        std::string("reason=\"") + VerifyErrorName(static_cast<VerifyError>(i)) + "\"");
  }
}

}  // namespace kvtier
