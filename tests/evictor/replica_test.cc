// Several replicas on one tree, no coordinator: each deletes only from its
// own share, no file is deleted twice, and together they cover the tree.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "evictor_test_util.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT

struct Tree {
  std::set<std::string> chunks;      // relative paths
  std::map<std::string, int> order;  // relative path -> atime rank (older first)
};

Tree MakeTree(const std::string& root) {
  Tree t;
  int64_t old = WallNs() - 86400 * kSec;
  std::string ns = MakeKvtierNamespace(root, "a");
  std::string ns2 = MakeKvtierNamespace(root, "b");
  std::string vns = root + "/org_m_0123456789ab_r0";
  for (int i = 0; i < 300; ++i) {
    std::string p;
    if (i % 3 == 0) {
      p = WriteKvtierChunk(ns, "key" + std::to_string(i), 64, old + i * kSec, old);
    } else if (i % 3 == 1) {
      p = WriteKvtierChunk(ns2, "key" + std::to_string(i), 64, old + i * kSec, old);
    } else {
      char hash[17];
      std::snprintf(hash, sizeof(hash), "%016llx", 0x9E3779B97F4A7C15ULL * (i + 1));
      p = WriteVllmChunk(vns, hash, 64, old + i * kSec, old);
    }
    t.chunks.insert(p.substr(root.size() + 1));
    t.order[p.substr(root.size() + 1)] = i;
  }
  return t;
}

// The share owning a relative chunk path.
int OwnerOf(const std::string& rel, int n) {
  size_t s1 = rel.find('/');
  size_t s2 = rel.find('/', s1 + 1);
  std::string ns = rel.substr(0, s1), fan = rel.substr(s1 + 1, s2 - s1 - 1);
  LayoutKind layout = IsVllmNamespaceName(ns) ? LayoutKind::kVllm : LayoutKind::kKvtier;
  return ShareOf(layout, fan, n);
}

void RunReplicas(int n, double low, const std::string& root, uint64_t quota,
                 std::multimap<std::string, int>* deleted,
                 std::vector<std::unique_ptr<Evictor>>* evictors) {
  auto logger = QuietLogger();
  std::mutex mu;
  for (int i = 0; i < n; ++i) {
    EvictorOptions o = TestOptions(root, logger.get());
    o.config.replicas = n;
    o.config.replica_index = i;
    o.config.quota_bytes = quota;
    o.config.high_watermark = 0.5;
    o.config.low_watermark = low;
    o.on_deleted = [&mu, deleted, i](const std::string& rel) {
      std::lock_guard<std::mutex> l(mu);
      deleted->emplace(rel, i);
    };
    std::unique_ptr<Evictor> ev;
    Status s = Evictor::Open(o, &ev);
    ASSERT_TRUE(s.ok()) << s.ToString();
    evictors->push_back(std::move(ev));
  }
  std::vector<std::thread> threads;
  for (auto& ev : *evictors) threads.emplace_back([&ev] { EXPECT_TRUE(ev->RunOnce().ok()); });
  for (auto& t : threads) t.join();
}

class EvictorReplicas : public ::testing::TestWithParam<int> {};

TEST_P(EvictorReplicas, EveryFileDeletedExactlyOnceByItsOwner) {
  const int n = GetParam();
  ScratchDir dir;
  Tree tree = MakeTree(dir.path());
  std::multimap<std::string, int> deleted;
  std::vector<std::unique_ptr<Evictor>> evictors;
  RunReplicas(n, 0.0, dir.path(), 1, &deleted, &evictors);
  std::set<int> active;
  for (const auto& [rel, replica] : deleted) {
    EXPECT_EQ(deleted.count(rel), 1u) << rel << " deleted twice";
    EXPECT_EQ(OwnerOf(rel, n), replica) << rel << " deleted outside its share";
    EXPECT_TRUE(tree.chunks.count(rel)) << rel;
    active.insert(replica);
  }
  EXPECT_EQ(deleted.size(), tree.chunks.size()) << "shares must cover the whole tree";
  EXPECT_EQ(static_cast<int>(active.size()), n) << "a share was left untouched";
  for (const auto& rel : tree.chunks) EXPECT_FALSE(Exists(dir.path() + "/" + rel)) << rel;
  for (auto& ev : evictors) EXPECT_EQ(ev->metrics().vanished->value(), 0u);
}

TEST_P(EvictorReplicas, EachReplicaFreesItsShareOfTheExcess) {
  const int n = GetParam();
  ScratchDir dir;
  Tree tree = MakeTree(dir.path());
  std::multimap<std::string, int> deleted;
  std::vector<std::unique_ptr<Evictor>> evictors;
  // Usage ~ 303 files of one block against a quota of 400 blocks: each share
  // must come down to 30% of its quota, oldest first within the share.
  const uint64_t block = 4096;
  RunReplicas(n, 0.3, dir.path(), 400 * block, &deleted, &evictors);
  std::map<int, int> per_replica;
  for (const auto& [rel, replica] : deleted) ++per_replica[replica];
  for (int i = 0; i < n; ++i) {
    EXPECT_GT(per_replica[i], 0) << "replica " << i;
    uint64_t left = evictors[i]->metrics().usage_bytes->value();
    EXPECT_LE(left, static_cast<uint64_t>(0.3 * 400 * block / n) + block) << "replica " << i;
  }
  // Within a share, deletions took the oldest files (atime grows with the
  // file number in MakeTree): no survivor of a share is older than a victim.
  EXPECT_EQ(
      deleted.size() +
          [&] {
            size_t left = 0;
            for (const auto& rel : tree.chunks) left += Exists(dir.path() + "/" + rel);
            return left;
          }(),
      tree.chunks.size());
  std::map<int, int> newest_victim, oldest_survivor;
  for (const auto& [rel, rank] : tree.order) {
    int owner = OwnerOf(rel, n);
    if (deleted.count(rel) != 0) {
      newest_victim[owner] = std::max(newest_victim.count(owner) ? newest_victim[owner] : -1, rank);
    } else if (oldest_survivor.count(owner) == 0 || rank < oldest_survivor[owner]) {
      oldest_survivor[owner] = rank;
    }
  }
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(newest_victim.count(i) && oldest_survivor.count(i)) << "replica " << i;
    EXPECT_LT(newest_victim[i], oldest_survivor[i]) << "replica " << i << " spared an older file";
  }
}

INSTANTIATE_TEST_SUITE_P(N, EvictorReplicas, ::testing::Values(2, 3));

}  // namespace
}  // namespace kvtier::evictor
