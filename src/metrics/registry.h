// A small metrics registry: counters, gauges and latency histograms with
// lock-free updates, rendered as Prometheus text or as a flat name->value map.
// Metrics are registered once at start-up; updates are relaxed atomics, cheap
// enough for every I/O.
#ifndef KVTIER_SRC_METRICS_REGISTRY_H_
#define KVTIER_SRC_METRICS_REGISTRY_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <string>

namespace kvtier {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// A gauge that is a fraction or a duration (a usage ratio, seconds).
class FloatGauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Latency histogram in seconds with fixed buckets from 10 us to 10 s.
class Histogram {
 public:
  static constexpr int kBuckets = 16;
  static const std::array<double, kBuckets>& Bounds();  // upper bounds, seconds
  void ObserveNanos(uint64_t ns);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const { return sum_ns_.load(std::memory_order_relaxed) / 1e9; }
  uint64_t bucket(int i) const { return buckets_[i].load(std::memory_order_relaxed); }
  // Approximate quantile (upper bound of the bucket that holds it).
  double Quantile(double q) const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets + 1> buckets_{};  // last is +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(std::string prefix) : prefix_(std::move(prefix)) {}
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returned pointers live as long as the registry. `labels` is a Prometheus
  // label set without braces, e.g. reason="bad_magic".
  Counter* AddCounter(const std::string& name, const std::string& help,
                      const std::string& labels = "");
  Gauge* AddGauge(const std::string& name, const std::string& help);
  FloatGauge* AddFloatGauge(const std::string& name, const std::string& help);
  Histogram* AddHistogram(const std::string& name, const std::string& help);

  std::string RenderPrometheus() const;
  std::map<std::string, double> Snapshot() const;

 private:
  struct Entry {
    enum class Kind { kCounter, kGauge, kFloatGauge, kHistogram } kind;
    std::string name, help, labels;
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    Histogram* histogram = nullptr;
    FloatGauge* float_gauge = nullptr;
  };
  std::string prefix_;
  std::deque<Counter> counters_;  // deque: stable addresses
  std::deque<Gauge> gauges_;
  std::deque<FloatGauge> float_gauges_;
  std::deque<Histogram> histograms_;
  std::deque<Entry> entries_;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_METRICS_REGISTRY_H_
