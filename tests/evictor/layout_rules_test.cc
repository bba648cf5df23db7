// Name predicates, replica shares and the small parsers of the config.
#include "evictor/layout_rules.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "evictor/config.h"
#include "layout/layout.h"

namespace kvtier::evictor {
namespace {

std::string Hex(int v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%0*x", digits, v);
  return buf;
}

// For every N, each fan-out directory has exactly one owner in [0, N), and
// every replica owns a near-equal, non-empty part: the shares partition the
// tree.
void CheckPartition(LayoutKind layout, int dirs, int digits) {
  for (int n = 1; n <= 16; ++n) {
    std::vector<int> owned(n, 0);
    for (int d = 0; d < dirs; ++d) {
      int owner = ShareOf(layout, Hex(d, digits), n);
      ASSERT_GE(owner, 0) << "dir " << d << " N=" << n;
      ASSERT_LT(owner, n);
      int claims = 0;
      for (int i = 0; i < n; ++i) claims += ShareOf(layout, Hex(d, digits), n) == i;
      ASSERT_EQ(claims, 1);
      ++owned[owner];
    }
    int total = 0, lo = dirs, hi = 0;
    for (int c : owned) {
      total += c;
      lo = std::min(lo, c);
      hi = std::max(hi, c);
    }
    EXPECT_EQ(total, dirs);
    EXPECT_GE(lo, 1) << "a replica owns nothing at N=" << n;
    EXPECT_LE(hi - lo, 1) << "unbalanced at N=" << n;
  }
}

TEST(EvictorShares, KvtierPartitionForN1To16) { CheckPartition(LayoutKind::kKvtier, 256, 2); }
TEST(EvictorShares, VllmPartitionForN1To16) { CheckPartition(LayoutKind::kVllm, 4096, 3); }

TEST(EvictorShares, NonFanoutNamesBelongToNobody) {
  EXPECT_EQ(ShareOf(LayoutKind::kKvtier, "zz", 2), -1);
  EXPECT_EQ(ShareOf(LayoutKind::kKvtier, "abc", 2), -1);
  EXPECT_EQ(ShareOf(LayoutKind::kVllm, "ab", 2), -1);
  EXPECT_EQ(ShareOf(LayoutKind::kKvtier, "ab", 0), -1);
}

TEST(EvictorLayout, Namespaces) {
  EXPECT_TRUE(IsKvtierNamespaceName("llama-3-70b-0123456789ab"));
  EXPECT_FALSE(IsKvtierNamespaceName("llama-3-70b-0123456789AB"));
  EXPECT_FALSE(IsKvtierNamespaceName("0123456789ab"));
  EXPECT_TRUE(IsVllmNamespaceName("meta-llama_Llama-3.1-8B_0123456789ab_r0"));
  EXPECT_TRUE(IsVllmNamespaceName("m_0123456789ab_r12"));
  EXPECT_FALSE(IsVllmNamespaceName("m_0123456789ab"));  // holds config.json only
  EXPECT_FALSE(IsVllmNamespaceName("m_0123456789ab_rx"));
}

TEST(EvictorLayout, KvtierNames) {
  std::string chunk = ChunkFileName("some key");
  EXPECT_TRUE(IsChunkName(LayoutKind::kKvtier, "ab", "cd", chunk));
  EXPECT_TRUE(IsChunkName(LayoutKind::kKvtier, "ab", "cd", ChunkFileName(std::string(300, 'k'))));
  EXPECT_FALSE(IsChunkName(LayoutKind::kKvtier, "ab", "cd", "notes.txt"));
  EXPECT_FALSE(IsChunkName(LayoutKind::kKvtier, "ab", "cd", "abc.kv"));  // odd hex
  EXPECT_FALSE(IsChunkName(LayoutKind::kKvtier, "ab", "cd", "0011.bin"));
  EXPECT_TRUE(IsTempName(LayoutKind::kKvtier, ".tmp.0011.kv.123"));
  EXPECT_FALSE(IsTempName(LayoutKind::kKvtier, "0011.kv"));
  EXPECT_TRUE(IsFanoutName(LayoutKind::kKvtier, "0f"));
  EXPECT_FALSE(IsFanoutName(LayoutKind::kKvtier, "0F"));
  EXPECT_TRUE(IsLeafName(LayoutKind::kKvtier, "ff"));
}

TEST(EvictorLayout, VllmNames) {
  const std::string h = "abcde0123456789f";
  EXPECT_TRUE(IsChunkName(LayoutKind::kVllm, "abc", "de_g0", h + ".bin"));
  // The hash must agree with the directories it sits in.
  EXPECT_FALSE(IsChunkName(LayoutKind::kVllm, "abd", "de_g0", h + ".bin"));
  EXPECT_FALSE(IsChunkName(LayoutKind::kVllm, "abc", "df_g0", h + ".bin"));
  EXPECT_FALSE(IsChunkName(LayoutKind::kVllm, "abc", "de_g0", h + ".kv"));
  EXPECT_TRUE(IsLeafName(LayoutKind::kVllm, "de_g0"));
  EXPECT_TRUE(IsLeafName(LayoutKind::kVllm, "de_g12"));
  EXPECT_FALSE(IsLeafName(LayoutKind::kVllm, "de"));
  EXPECT_TRUE(IsTempName(LayoutKind::kVllm, h + ".bin_1234567890.tmp"));
  EXPECT_TRUE(IsTempName(LayoutKind::kVllm, ".o_direct_probe_42.tmp"));
  EXPECT_FALSE(IsTempName(LayoutKind::kVllm, h + ".bin.tmp"));
  EXPECT_FALSE(IsTempName(LayoutKind::kVllm, "x.bin_12.tmp"));
  EXPECT_FALSE(IsTempName(LayoutKind::kVllm, h + ".bin"));
}

TEST(EvictorConfigParse, Values) {
  double r;
  EXPECT_TRUE(ParseRatio("85", &r));
  EXPECT_DOUBLE_EQ(r, 0.85);
  EXPECT_TRUE(ParseRatio("0.7", &r));
  EXPECT_DOUBLE_EQ(r, 0.7);
  EXPECT_FALSE(ParseRatio("high", &r));
  uint64_t b;
  EXPECT_TRUE(ParseBytes("10G", &b));
  EXPECT_EQ(b, 10ULL << 30);
  EXPECT_TRUE(ParseBytes("512MiB", &b));
  EXPECT_EQ(b, 512ULL << 20);
  EXPECT_FALSE(ParseBytes("12Q", &b));
  double s;
  EXPECT_TRUE(ParseDuration("10m", &s));
  EXPECT_DOUBLE_EQ(s, 600);
  EXPECT_TRUE(ParseDuration("250ms", &s));
  EXPECT_DOUBLE_EQ(s, 0.25);
  EXPECT_FALSE(ParseDuration("soon", &s));
  int o;
  EXPECT_TRUE(ParseOrdinal("kvtier-evictor-3", &o));
  EXPECT_EQ(o, 3);
  EXPECT_FALSE(ParseOrdinal("kvtier-evictor", &o));
  EXPECT_FALSE(ParseOrdinal("node7", &o));
}

}  // namespace
}  // namespace kvtier::evictor
