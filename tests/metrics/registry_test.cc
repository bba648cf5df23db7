#include "metrics/registry.h"

#include <gtest/gtest.h>

namespace kvtier {
namespace {

TEST(Metrics, PrometheusTextAndSnapshot) {
  MetricsRegistry r("kvtier_");
  Counter* c = r.AddCounter("hits_total", "Hits");
  Counter* bad = r.AddCounter("fail_total", "Failures", "reason=\"bad_magic\"");
  Gauge* g = r.AddGauge("depth", "Depth");
  Histogram* h = r.AddHistogram("op_seconds", "Latency");
  c->Add(3);
  bad->Add();
  g->Set(-2);
  h->ObserveNanos(3000);         // 3 us -> first bucket
  h->ObserveNanos(2000000);      // 2 ms
  h->ObserveNanos(20000000000);  // 20 s -> +Inf
  std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE kvtier_hits_total counter\nkvtier_hits_total 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("kvtier_fail_total{reason=\"bad_magic\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kvtier_depth -2\n"), std::string::npos);
  EXPECT_NE(text.find("kvtier_op_seconds_bucket{le=\"1e-05\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kvtier_op_seconds_bucket{le=\"0.0025\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("kvtier_op_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("kvtier_op_seconds_count 3\n"), std::string::npos);
  auto m = r.Snapshot();
  EXPECT_EQ(m["hits_total"], 3);
  EXPECT_EQ(m["fail_total.bad_magic"], 1);
  EXPECT_EQ(m["depth"], -2);
  EXPECT_EQ(m["op_seconds_count"], 3);
  EXPECT_DOUBLE_EQ(m["op_seconds_p50"], 0.0025);
}

TEST(Metrics, FloatGauge) {
  MetricsRegistry r("kvtier_evictor_");
  FloatGauge* f = r.AddFloatGauge("usage_ratio", "Used fraction");
  f->Set(0.8125);
  std::string text = r.RenderPrometheus();
  EXPECT_NE(
      text.find("# TYPE kvtier_evictor_usage_ratio gauge\nkvtier_evictor_usage_ratio 0.8125\n"),
      std::string::npos)
      << text;
  EXPECT_DOUBLE_EQ(r.Snapshot()["usage_ratio"], 0.8125);
}

}  // namespace
}  // namespace kvtier
