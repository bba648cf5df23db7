// The evictor's Prometheus metrics (prefix kvtier_evictor_), all in one
// kvtier::MetricsRegistry, which renders them; the ratios and durations
// Prometheus expects as floats are its FloatGauges.
//
// Thread-safety: updates are atomic; Render() may run on the HTTP thread
// while the loop thread updates.
#ifndef KVTIER_SRC_EVICTOR_EVICTOR_METRICS_H_
#define KVTIER_SRC_EVICTOR_EVICTOR_METRICS_H_

#include <atomic>
#include <string>

#include "metrics/registry.h"

namespace kvtier::evictor {

class EvictorMetrics {
 public:
  EvictorMetrics();
  EvictorMetrics(const EvictorMetrics&) = delete;
  EvictorMetrics& operator=(const EvictorMetrics&) = delete;

  std::string Render() const;

  Gauge* usage_bytes;
  Gauge* capacity_bytes;
  Gauge* evicting;
  Gauge* files_indexed;
  Gauge* bytes_indexed;
  Gauge* oldest_file_age_seconds;
  Gauge* index_memory_bytes;
  Gauge* replicas;
  Gauge* replica_index;
  Gauge* dry_run;
  Gauge* pending_free_bytes;
  Gauge* overshoot_bytes;
  Counter* files_evicted;
  Counter* bytes_evicted;
  Counter* spared_hot;
  Counter* spared_young;
  Counter* vanished;
  Counter* temp_files_removed;
  Counter* dirs_removed;
  Counter* errors;
  Counter* scans;
  Counter* dirs_skipped;
  Counter* http_dropped;
  Counter* http_timeouts;
  Histogram* scan_duration;

  FloatGauge* usage_ratio;
  FloatGauge* high_watermark;
  FloatGauge* low_watermark;
  FloatGauge* last_scan_seconds;

 private:
  MetricsRegistry registry_{"kvtier_evictor_"};
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_EVICTOR_METRICS_H_
