#include "evictor/evictor_metrics.h"

namespace kvtier::evictor {

EvictorMetrics::EvictorMetrics() {
  MetricsRegistry& r = registry_;
  usage_bytes =
      r.AddGauge("usage_bytes", "Bytes in use (filesystem, or this share under --quota-bytes).");
  capacity_bytes = r.AddGauge("capacity_bytes", "Bytes the watermarks apply to.");
  evicting = r.AddGauge("evicting", "1 between crossing the high mark and reaching the low mark.");
  files_indexed = r.AddGauge("files_indexed", "Chunk files in this replica's index.");
  bytes_indexed = r.AddGauge("bytes_indexed", "Allocated bytes of the indexed chunks.");
  oldest_file_age_seconds = r.AddGauge("oldest_file_age_seconds",
                                       "Seconds since the least recently accessed chunk was read.");
  index_memory_bytes = r.AddGauge("index_memory_bytes", "Heap bytes held by the in-memory index.");
  replicas = r.AddGauge("replicas", "Number of evictor replicas sharing the tree.");
  replica_index = r.AddGauge("replica_index", "This replica's share.");
  dry_run = r.AddGauge("dry_run", "1 when deletions are only logged.");
  pending_free_bytes = r.AddGauge(
      "pending_free_bytes", "Deleted bytes statvfs does not show free yet (estimate, --free-lag).");
  overshoot_bytes = r.AddGauge(
      "overshoot_bytes",
      "Bytes deleted in the current or last eviction beyond its share of the excess at its start.");
  files_evicted = r.AddCounter("files_evicted_total", "Chunks deleted (or, in dry-run, selected).");
  bytes_evicted = r.AddCounter("bytes_evicted_total", "Allocated bytes of evicted chunks.");
  spared_hot =
      r.AddCounter("spared_hot_total", "Chunks spared because their atime moved since the scan.");
  spared_young =
      r.AddCounter("spared_young_total", "Chunks spared because they changed within --min-age.");
  vanished =
      r.AddCounter("vanished_total", "Chunks already gone when the evictor came to delete them.");
  temp_files_removed = r.AddCounter("temp_files_removed_total", "Stale temp files removed.");
  dirs_removed = r.AddCounter("dirs_removed_total", "Empty fan-out directories removed.");
  errors = r.AddCounter("errors_total", "Failed directory listings, stats and unlinks.");
  scans = r.AddCounter("scans_total", "Completed scans of this replica's share.");
  dirs_skipped =
      r.AddCounter("dirs_skipped_total", "Leaf directories not re-listed (mtime unchanged).");
  http_dropped = r.AddCounter("http_connections_dropped_total",
                              "HTTP connections closed to stay under the connection cap.");
  http_timeouts = r.AddCounter("http_timeouts_total",
                               "HTTP connections closed at their read or write deadline.");
  scan_duration = r.AddHistogram("scan_duration_seconds", "Duration of one incremental scan.");
  usage_ratio = r.AddFloatGauge("usage_ratio", "Used fraction of the capacity.");
  high_watermark = r.AddFloatGauge("high_watermark_ratio", "Usage at which deletion starts.");
  low_watermark = r.AddFloatGauge("low_watermark_ratio", "Usage at which deletion stops.");
  last_scan_seconds = r.AddFloatGauge("last_scan_duration_seconds", "Duration of the latest scan.");
}

std::string EvictorMetrics::Render() const { return registry_.RenderPrometheus(); }

}  // namespace kvtier::evictor
