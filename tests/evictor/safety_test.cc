// What the evictor must never delete, and what it must clean up.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <set>

#include "evictor_test_util.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT

class EvictorSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    logger_ = QuietLogger();
    root_ = outer_.path() + "/cache";
    outside_ = outer_.path() + "/outside";
    MkdirAll(root_);
    MkdirAll(outside_);
    ns_ = MakeKvtierNamespace(root_);
    old_ = WallNs() - 86400 * kSec;
  }

  ScratchDir outer_;
  std::unique_ptr<Logger> logger_;
  std::string root_, outside_, ns_;
  int64_t old_;
};

TEST_F(EvictorSafety, DeletesOnlyChunksOfKnownLayouts) {
  std::vector<std::string> chunks;
  for (int i = 0; i < 20; ++i) {
    chunks.push_back(WriteKvtierChunk(ns_, "key" + std::to_string(i), 100, old_ + i * kSec, old_));
  }
  ChunkLocation loc = LocateChunk(ns_, "key0");
  std::vector<std::string> keep;
  // Foreign files beside chunks, in the namespace, at the root.
  keep.push_back(loc.leaf_dir + "/notes.txt");
  keep.push_back(loc.leaf_dir + "/abc.kv");  // odd-length hex: not a chunk name
  keep.push_back(ns_ + "/stray.kv");
  keep.push_back(root_ + "/README");
  for (size_t i = 0; i < keep.size(); ++i) WriteFile(keep[i], 10);
  // A directory that looks like a namespace but has no fingerprint.json.
  std::string fake_ns = root_ + "/fake-0123456789ab";
  MkdirAll(fake_ns);
  std::string fake_chunk = WriteKvtierChunk(fake_ns, "key0", 10, old_, old_);
  keep.push_back(fake_chunk);
  // A non-fan-out directory inside a real namespace.
  MkdirAll(ns_ + "/zz/zz");
  keep.push_back(ns_ + "/zz/zz/" + ChunkFileName("k"));
  WriteFile(keep.back(), 10);
  // Symlinks: a chunk-named link to a file outside, and a fan-out-named
  // link to a directory outside holding chunk-named files.
  std::string victim = outside_ + "/" + ChunkFileName("outside");
  WriteFile(victim, 10);
  SetTimes(victim, old_, old_);
  std::string link = loc.leaf_dir + "/" + ChunkFileName("linked");
  ASSERT_EQ(::symlink(victim.c_str(), link.c_str()), 0);
  MkdirAll(outside_ + "/00");
  std::string victim2 = outside_ + "/00/" + ChunkFileName("outside2");
  WriteFile(victim2, 10);
  SetTimes(victim2, old_, old_);
  // A fan-out-named and a leaf-named symlink to directories outside.
  std::string fan = loc.leaf_dir.substr(ns_.size() + 1, 2);
  std::string dir_link, leaf_link;
  for (int i = 0; i < 256 && (dir_link.empty() || leaf_link.empty()); ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "%02x", i & 0xff);
    if (dir_link.empty() && !Exists(ns_ + "/" + name))
      dir_link = ns_ + "/" + name;
    else if (leaf_link.empty() && !Exists(ns_ + "/" + fan + "/" + name)) {
      leaf_link = ns_ + "/" + fan + "/" + name;
    }
  }
  ASSERT_EQ(::symlink(outside_.c_str(), dir_link.c_str()), 0);
  ASSERT_EQ(::symlink((outside_ + "/00").c_str(), leaf_link.c_str()), 0);
  std::string ns_link = root_ + "/linked-0123456789ab";
  ASSERT_EQ(::symlink(ns_.c_str(), ns_link.c_str()), 0);

  auto ev = EvictAll(TestOptions(root_, logger_.get()));
  ASSERT_TRUE(ev);
  for (const std::string& c : chunks) EXPECT_FALSE(Exists(c)) << c;
  for (const std::string& k : keep) EXPECT_TRUE(Exists(k)) << k;
  EXPECT_TRUE(Exists(victim));
  EXPECT_TRUE(Exists(victim2));
  EXPECT_TRUE(Exists(link));
  EXPECT_TRUE(Exists(dir_link));
  EXPECT_TRUE(Exists(leaf_link));
  EXPECT_TRUE(Exists(ns_ + "/fingerprint.json"));
  EXPECT_EQ(ev->metrics().files_evicted->value(), chunks.size());
}

TEST_F(EvictorSafety, RootReachedThroughASymlink) {
  // /scratch -> /lustre/scratch: the root may be a link, or sit below one;
  // links below it are still never followed.
  std::vector<std::string> chunks;
  for (int i = 0; i < 10; ++i) {
    chunks.push_back(WriteKvtierChunk(ns_, "key" + std::to_string(i), 100, old_ + i * kSec, old_));
  }
  std::string victim = outside_ + "/" + ChunkFileName("outside");
  WriteFile(victim, 10);
  SetTimes(victim, old_, old_);
  std::string link = LocateChunk(ns_, "key0").leaf_dir + "/" + ChunkFileName("linked");
  ASSERT_EQ(::symlink(victim.c_str(), link.c_str()), 0);
  const std::string mount = outer_.path() + "/mount", root_link = outer_.path() + "/root";
  ASSERT_EQ(::symlink(outer_.path().c_str(), mount.c_str()), 0);
  ASSERT_EQ(::symlink(root_.c_str(), root_link.c_str()), 0);
  for (const std::string& root : {mount + "/cache", root_link}) {
    auto ev = EvictAll(TestOptions(root, logger_.get()));
    ASSERT_TRUE(ev) << root;
    EXPECT_TRUE(ev->healthy());
  }
  for (const std::string& c : chunks) EXPECT_FALSE(Exists(c)) << c;
  EXPECT_TRUE(Exists(victim));
  EXPECT_TRUE(Exists(link));
  EXPECT_TRUE(Exists(ns_ + "/fingerprint.json"));
}

TEST_F(EvictorSafety, NeverEntersAnotherFilesystem) {
  // A filesystem mounted on a fan-out directory inside the root: its chunks
  // are not this cache's to delete; the scan skips and counts it.
  std::string inside = WriteKvtierChunk(ns_, "inside", 100, old_, old_);
  std::string key, fan;
  for (int i = 0; fan.empty() || Exists(fan); ++i) {
    key = "mounted" + std::to_string(i);
    fan = LocateChunk(ns_, key).leaf_dir;
    fan = fan.substr(0, fan.find_last_of('/'));
  }
  MkdirAll(fan);
  if (::mount("tmpfs", fan.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount tmpfs (needs root)";
  }
  std::string mounted = WriteKvtierChunk(ns_, key, 100, old_ - kSec, old_);  // the oldest
  auto ev = EvictAll(TestOptions(root_, logger_.get()));
  bool kept = Exists(mounted);
  ::umount2(fan.c_str(), MNT_DETACH);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(kept);
  EXPECT_FALSE(Exists(inside));
  EXPECT_GE(ev->metrics().errors->value(), 1u);
}

TEST_F(EvictorSafety, TouchedBetweenScanAndUnlinkSurvives) {
  std::vector<std::string> chunks;
  for (int i = 0; i < 10; ++i) {
    chunks.push_back(WriteKvtierChunk(ns_, "k" + std::to_string(i), 100, old_ + i * kSec, old_));
  }
  const std::string hot_rel = chunks[3].substr(root_.size() + 1);
  EvictorOptions o = TestOptions(root_, logger_.get());
  int touched = 0;
  o.before_recheck = [&](const std::string& rel) {
    if (rel == hot_rel) {
      ++touched;
      SetTimes(root_ + "/" + rel, WallNs(), old_);  // a reader just loaded it
    }
  };
  auto ev = EvictAll(o);
  ASSERT_TRUE(ev);
  EXPECT_EQ(touched, 1);
  EXPECT_TRUE(Exists(chunks[3]));
  EXPECT_EQ(ev->metrics().spared_hot->value(), 1u);
  for (int i = 0; i < 10; ++i) {
    if (i != 3) {
      EXPECT_FALSE(Exists(chunks[i])) << i;
    }
  }
}

TEST_F(EvictorSafety, YoungFilesSurviveMinAge) {
  std::string old_chunk = WriteKvtierChunk(ns_, "old", 100, old_, old_);
  // Old atime but written a minute ago: younger than --min-age.
  std::string young = WriteKvtierChunk(ns_, "young", 100, old_, WallNs() - 60 * kSec);
  EvictorOptions o = TestOptions(root_, logger_.get());
  o.config.min_age_s = 600;
  auto ev = EvictAll(o);
  EXPECT_FALSE(Exists(old_chunk));
  EXPECT_TRUE(Exists(young));
}

TEST_F(EvictorSafety, DryRunDeletesNothing) {
  std::string c = WriteKvtierChunk(ns_, "a", 100, old_, old_);
  std::string tmp = LocateChunk(ns_, "a").leaf_dir + "/.tmp.a.1";
  WriteFile(tmp, 10);
  SetTimes(tmp, old_, old_);
  EvictorOptions o = TestOptions(root_, logger_.get());
  o.config.dry_run = true;
  auto ev = EvictAll(o);
  EXPECT_TRUE(Exists(c));
  EXPECT_TRUE(Exists(tmp));
  EXPECT_EQ(ev->metrics().files_evicted->value(), 1u);
}

TEST_F(EvictorSafety, RemovesStaleTempsAndEmptyFanoutDirs) {
  std::string c = WriteKvtierChunk(ns_, "a", 100, WallNs(), WallNs());
  std::string leaf = LocateChunk(ns_, "a").leaf_dir;
  std::string stale = leaf + "/.tmp.stale", fresh = leaf + "/.tmp.fresh";
  WriteFile(stale, 10);
  WriteFile(fresh, 10);
  SetTimes(stale, old_, old_);
  // vLLM temps: beside a chunk, and the O_DIRECT probe.
  std::string vns = root_ + "/org_model_0123456789ab_r0";
  std::string vchunk = WriteVllmChunk(vns, "abcdef0123456789", 10, WallNs(), WallNs());
  std::string vtmp = vchunk + "_8812734.tmp";
  WriteFile(vtmp, 10);
  SetTimes(vtmp, old_, old_);
  std::string probe = vns + "/.o_direct_probe_77.tmp";
  WriteFile(probe, 0);
  SetTimes(probe, old_, old_);
  // Empty fan-out directories, one old and one recent.
  std::string empty_old = ns_ + "/01/02", empty_new = ns_ + "/01/03";
  MkdirAll(empty_old);
  MkdirAll(empty_new);
  SetTimes(empty_old, old_, old_);
  EvictorOptions o = TestOptions(root_, logger_.get());
  o.config.quota_bytes = 1ULL << 40;  // no eviction pressure
  std::unique_ptr<Evictor> ev;
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  ASSERT_TRUE(ev->RunOnce().ok());
  EXPECT_FALSE(Exists(stale));
  EXPECT_TRUE(Exists(fresh));
  EXPECT_FALSE(Exists(vtmp));
  EXPECT_FALSE(Exists(probe));
  EXPECT_FALSE(Exists(empty_old));
  EXPECT_TRUE(Exists(empty_new));
  EXPECT_TRUE(Exists(c));
  EXPECT_TRUE(Exists(vchunk));
  EXPECT_EQ(ev->metrics().temp_files_removed->value(), 3u);
}

TEST_F(EvictorSafety, LruOrderAcrossLayouts) {
  // Interleave kvtier and vLLM chunks in atime; a budget of half of them
  // must take exactly the older half.
  std::string vns = root_ + "/org_model_0123456789ab_r1";
  std::vector<std::string> files;
  for (int i = 0; i < 40; ++i) {
    int64_t at = old_ + i * kSec;
    if (i % 2 == 0) {
      files.push_back(WriteKvtierChunk(ns_, "k" + std::to_string(i), 4096, at, old_));
    } else {
      char hash[17];
      std::snprintf(hash, sizeof(hash), "%016llx", 0x1234567890ULL * (i + 1));
      files.push_back(WriteVllmChunk(vns, hash, 4096, at, old_));
    }
  }
  EvictorOptions o = TestOptions(root_, logger_.get());
  uint64_t per_file = 4096;
  o.config.quota_bytes = per_file * 40 * 2;  // ~usage 0.5 + fingerprint
  o.config.high_watermark = 0.4;
  o.config.low_watermark = 0.25;
  std::unique_ptr<Evictor> ev;
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  ASSERT_TRUE(ev->RunOnce().ok());
  int first_kept = -1;
  for (int i = 0; i < 40; ++i) {
    if (Exists(files[i]) && first_kept < 0) first_kept = i;
    if (first_kept >= 0) {
      EXPECT_TRUE(Exists(files[i])) << "newer file " << i << " deleted";
    }
  }
  EXPECT_GT(first_kept, 10);
  EXPECT_LT(first_kept, 30);
}

}  // namespace
}  // namespace kvtier::evictor
