// The store's metrics, registered once. Their names and help texts are the
// ones below (Store::MetricsText renders them all); README.md's "Reading the
// metrics" explains the few to watch under the names vLLM exports.
#ifndef KVTIER_SRC_STORE_STORE_METRICS_H_
#define KVTIER_SRC_STORE_STORE_METRICS_H_

#include <array>

#include "format/chunk_format.h"
#include "metrics/registry.h"

namespace kvtier {

struct StoreMetrics {
  StoreMetrics();

  MetricsRegistry registry{"kvtier_"};
  Counter* gets;
  Counter* get_hits;
  Counter* get_misses;
  Counter* get_errors;
  Counter* bytes_read;
  Counter* puts;
  Counter* puts_stored;
  Counter* puts_existing;
  Counter* puts_dropped;
  // Stores refused at submission for breaking a format limit, by reason:
  // key_too_long, payload_too_large.
  std::array<Counter*, 2> puts_invalid{};
  Counter* put_errors;
  Counter* bytes_written;
  Counter* lookups;
  Counter* lookup_hits;
  Counter* lookup_cache_hits;
  Counter* lookup_errors;
  Counter* touches;
  Counter* corrupt_removed;
  Counter* jobs_rejected;
  Counter* fingerprint_repaired;
  Counter* jobs_timed_out;
  std::array<Counter*, 3> io_timeouts{};  // keys failed at the deadline, by JobKind
  Counter* late_completions;
  Gauge* namespace_conflict;
  std::array<Counter*, kNumVerifyErrors> verify_failures{};
  Gauge* read_queue_depth;
  Gauge* write_queue_depth;
  Gauge* write_queue_bytes;
  Gauge* pending_jobs;
  Gauge* workers;
  Gauge* stalled_workers;
  Gauge* staging_bytes;
  Histogram* get_latency;
  Histogram* put_latency;
  Histogram* lookup_latency;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_STORE_METRICS_H_
