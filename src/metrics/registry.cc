#include "metrics/registry.h"

#include <cstdio>

namespace kvtier {

const std::array<double, Histogram::kBuckets>& Histogram::Bounds() {
  static const std::array<double, kBuckets> kBounds = {1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
                                                       1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2,
                                                       0.1,  0.5,    1.0,  10.0};
  return kBounds;
}

void Histogram::ObserveNanos(uint64_t ns) {
  double s = static_cast<double>(ns) / 1e9;
  const auto& bounds = Bounds();
  int i = 0;
  while (i < kBuckets && s > bounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

double Histogram::Quantile(double q) const {
  uint64_t total = count();
  if (total == 0) return 0;
  uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += bucket(i);
    if (seen > want) return Bounds()[i];
  }
  return Bounds()[kBuckets - 1];
}

Counter* MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                     const std::string& labels) {
  Counter* c = &counters_.emplace_back();
  entries_.push_back(
      Entry{Entry::Kind::kCounter, name, help, labels, c, nullptr, nullptr, nullptr});
  return c;
}

Gauge* MetricsRegistry::AddGauge(const std::string& name, const std::string& help) {
  Gauge* g = &gauges_.emplace_back();
  entries_.push_back(Entry{Entry::Kind::kGauge, name, help, "", nullptr, g, nullptr, nullptr});
  return g;
}

FloatGauge* MetricsRegistry::AddFloatGauge(const std::string& name, const std::string& help) {
  FloatGauge* g = &float_gauges_.emplace_back();
  entries_.push_back(Entry{Entry::Kind::kFloatGauge, name, help, "", nullptr, nullptr, nullptr, g});
  return g;
}

Histogram* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help) {
  Histogram* h = &histograms_.emplace_back();
  entries_.push_back(Entry{Entry::Kind::kHistogram, name, help, "", nullptr, nullptr, h, nullptr});
  return h;
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::string out;
  std::string last_name;
  char num[64];
  for (const Entry& e : entries_) {
    std::string full = prefix_ + e.name;
    if (full != last_name) {
      const char* type = e.kind == Entry::Kind::kCounter     ? "counter"
                         : e.kind == Entry::Kind::kHistogram ? "histogram"
                                                             : "gauge";
      out += "# HELP " + full + " " + e.help + "\n# TYPE " + full + " " + type + "\n";
      last_name = full;
    }
    std::string labels = e.labels.empty() ? "" : "{" + e.labels + "}";
    switch (e.kind) {
      case Entry::Kind::kCounter:
        std::snprintf(num, sizeof(num), "%llu",
                      static_cast<unsigned long long>(e.counter->value()));
        out += full + labels + " " + num + "\n";
        break;
      case Entry::Kind::kGauge:
        std::snprintf(num, sizeof(num), "%lld", static_cast<long long>(e.gauge->value()));
        out += full + labels + " " + num + "\n";
        break;
      case Entry::Kind::kFloatGauge:
        std::snprintf(num, sizeof(num), "%.6g", e.float_gauge->value());
        out += full + labels + " " + num + "\n";
        break;
      case Entry::Kind::kHistogram: {
        uint64_t cumulative = 0;
        for (int i = 0; i <= Histogram::kBuckets; ++i) {
          cumulative += e.histogram->bucket(i);
          if (i < Histogram::kBuckets) {
            std::snprintf(num, sizeof(num), "%g", Histogram::Bounds()[i]);
          } else {
            std::snprintf(num, sizeof(num), "+Inf");
          }
          out += full + "_bucket{le=\"" + num + "\"} " + std::to_string(cumulative) + "\n";
        }
        std::snprintf(num, sizeof(num), "%.9g", e.histogram->sum_seconds());
        out += full + "_sum " + num + "\n";
        out += full + "_count " + std::to_string(e.histogram->count()) + "\n";
        break;
      }
    }
  }
  return out;
}

std::map<std::string, double> MetricsRegistry::Snapshot() const {
  std::map<std::string, double> out;
  for (const Entry& e : entries_) {
    std::string key = e.name;
    if (!e.labels.empty()) {
      // reason="bad_magic" -> name.bad_magic
      size_t q = e.labels.find('"');
      key.append(".").append(e.labels, q + 1, e.labels.size() - q - 2);
    }
    switch (e.kind) {
      case Entry::Kind::kCounter:
        out[key] = static_cast<double>(e.counter->value());
        break;
      case Entry::Kind::kGauge:
        out[key] = static_cast<double>(e.gauge->value());
        break;
      case Entry::Kind::kFloatGauge:
        out[key] = e.float_gauge->value();
        break;
      case Entry::Kind::kHistogram:
        out[key + "_count"] = static_cast<double>(e.histogram->count());
        out[key + "_sum"] = e.histogram->sum_seconds();
        out[key + "_p50"] = e.histogram->Quantile(0.5);
        out[key + "_p99"] = e.histogram->Quantile(0.99);
        break;
    }
  }
  return out;
}

}  // namespace kvtier
