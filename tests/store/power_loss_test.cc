// Power loss through the fault-injection Env (env/unsynced_state.h): what
// the model itself takes away, then the store's promise: a chunk stored with
// durable=true survives, and so do its directories and the namespace's
// fingerprint.json; one stored without may vanish, but never reads back
// torn. And the set-atime fault: a refresh that fails costs nothing else.
#include <gtest/gtest.h>
#include <sys/uio.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "env/fault_injection_env.h"
#include "layout/layout.h"
#include "test_util.h"

namespace kvtier {
namespace {

using kvtier::test::Metric;
using kvtier::test::OpenStore;
using kvtier::test::Payload;
using kvtier::test::ScratchDir;
namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Creates `name` in `dir` through the env and writes `data`; syncs the file
// and/or the directory as asked.
void Create(FaultInjectionEnv* env, const std::string& dir, const std::string& name,
            const std::string& data, bool sync_file, bool sync_dir) {
  std::unique_ptr<Dir> d;
  ASSERT_TRUE(env->OpenDir(dir, &d).ok());
  std::unique_ptr<File> f;
  ASSERT_TRUE(d->OpenFile(name, kOpenWrite | kOpenCreateExclusive, &f).ok());
  struct iovec iov {
    const_cast<char*>(data.data()), data.size()
  };
  ASSERT_TRUE(f->WriteV(0, &iov, 1).ok());
  if (sync_file) ASSERT_TRUE(f->Sync().ok());
  if (sync_dir) ASSERT_TRUE(d->Sync().ok());
}

TEST(PowerLoss, ModelKeepsOnlyWhatWasSynced) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  env.TrackUnsynced();
  const std::string p = dir.path();
  Create(&env, p, "both", "durable", true, true);
  Create(&env, p, "entry-only", "data not durable", false, true);
  Create(&env, p, "file-only", "name not durable", true, false);
  const std::string plain = "written around the env";  // not tracked: durable
  std::ofstream(p + "/plain") << plain;
  // A publish without a directory sync: both the temp name and the rename go.
  Create(&env, p, "tmp", "renamed", true, false);
  ASSERT_TRUE(env.Rename(p + "/tmp", p + "/final", true).ok());

  EXPECT_EQ(env.DropUnsyncedData(), 4u);  // two creates, one rename, one write
  EXPECT_EQ(ReadAll(p + "/both"), "durable");
  EXPECT_FALSE(fs::exists(p + "/file-only"));
  EXPECT_EQ(ReadAll(p + "/entry-only"), std::string(16, '\0'));  // the size stayed, the bytes not
  EXPECT_EQ(ReadAll(p + "/plain"), plain);
  EXPECT_FALSE(fs::exists(p + "/tmp"));
  EXPECT_FALSE(fs::exists(p + "/final"));
  EXPECT_EQ(env.DropUnsyncedData(), 0u);  // nothing left to lose
}

TEST(PowerLoss, LostDirectoryTakesItsTree) {
  // A file synced into a directory whose own entry was never synced is lost
  // with it; syncing the parent keeps both. An existing directory is no new
  // entry.
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  env.TrackUnsynced();
  const std::string p = dir.path();
  for (const char* sub : {"unsynced", "synced"}) {
    ASSERT_TRUE(env.CreateDir(p + "/" + sub, CreatePerms{}).ok());
    ASSERT_TRUE(env.CreateDir(p + "/" + sub + "/leaf", CreatePerms{}).ok());
    Create(&env, p + "/" + sub + "/leaf", "f", "data", true, true);
  }
  ASSERT_TRUE(env.SyncDir(p + "/synced").ok());                   // "leaf"'s entry
  ASSERT_TRUE(env.SyncDir(p).ok());                               // both top entries
  ASSERT_TRUE(env.CreateDir(p + "/synced", CreatePerms{}).ok());  // exists: nothing to lose

  EXPECT_EQ(env.DropUnsyncedData(), 1u);  // unsynced/leaf
  EXPECT_TRUE(fs::is_directory(p + "/unsynced"));
  EXPECT_FALSE(fs::exists(p + "/unsynced/leaf"));
  EXPECT_EQ(ReadAll(p + "/synced/leaf/f"), "data");
}

TEST(PowerLoss, SeedKeepsAPrefixOfEachDirectory) {
  // Entries persist in order: for any seed, "final" existing means "tmp"'s
  // create was kept too (it was renamed, so "tmp" itself is gone then).
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    ScratchDir dir;
    FaultInjectionEnv env(Env::Default());
    env.TrackUnsynced();
    const std::string p = dir.path();
    Create(&env, p, "tmp", "payload", true, false);
    ASSERT_TRUE(env.Rename(p + "/tmp", p + "/final", true).ok());
    env.DropUnsyncedData(seed);
    const bool tmp = fs::exists(p + "/tmp");
    const bool fin = fs::exists(p + "/final");
    EXPECT_FALSE(tmp && fin) << seed;
    if (tmp) EXPECT_EQ(ReadAll(p + "/tmp"), "payload") << seed;  // data was synced
    if (fin) EXPECT_EQ(ReadAll(p + "/final"), "payload") << seed;
  }
}

// Stores `n` chunks through a fault env with power-loss tracking, closes the
// store, drops unsynced data with `seed`, then loads every chunk through a
// fresh store on the real env. Returns {verified hits, files rejected}.
struct Outcome {
  int hits = 0;
  int rejected = 0;
  int wrong = 0;  // loads that returned true with other bytes: must stay 0
};

// fingerprint.json files under root (one per namespace).
int FingerprintFiles(const std::string& root) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    n += e.path().filename() == "fingerprint.json" ? 1 : 0;
  }
  return n;
}

// With `warm_tree`, the namespace and the chunks' leaf directories exist
// (made around the tracking env) before the tracked store opens, as in a
// cache in service: only the chunk files themselves are at stake.
Outcome StoreLoseLoad(const std::string& root, bool durable, uint64_t seed, int n,
                      bool warm_tree = false) {
  Outcome o;
  const size_t len = 3 * kDefaultSegmentBytes + 1234;  // several segments, unaligned tail
  if (warm_tree) {
    auto store = OpenStore(root, {});
    for (int i = 0; i < n; ++i) {
      ChunkLocation loc = LocateChunk(store->namespace_dir(), "key" + std::to_string(i));
      EXPECT_TRUE(CreateLeafDir(Env::Default(), loc, CreatePerms{}).ok());
    }
  }
  {
    FaultInjectionEnv env(Env::Default());
    env.TrackUnsynced();
    StoreOptions opts;
    opts.env = &env;
    opts.durable = durable;
    auto store = OpenStore(root, opts);
    for (int i = 0; i < n; ++i) {
      auto data = Payload(len, static_cast<uint32_t>(i));
      EXPECT_TRUE(store->Put("key" + std::to_string(i), data.data(), len));
    }
    store->Close();
    for (int i = 0; i < 1000 && Metric(*store, "workers") != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(Metric(*store, "workers"), 0);
    store.reset();
    env.DropUnsyncedData(seed);
  }
  // The namespace's description is published like a chunk (temp + rename).
  if (durable) EXPECT_EQ(FingerprintFiles(root), 1) << seed;
  StoreOptions opts;
  opts.lookup_cache_ns = 0;
  auto store = OpenStore(root, opts);
  std::vector<char> out(len);
  for (int i = 0; i < n; ++i) {
    auto data = Payload(len, static_cast<uint32_t>(i));
    if (store->Get("key" + std::to_string(i), out.data(), len)) {
      ++o.hits;
      if (out != data) ++o.wrong;
    }
  }
  o.rejected = static_cast<int>(Metric(*store, "corrupt_removed_total"));
  return o;
}

TEST(PowerLoss, DurableChunksSurvive) {
  for (uint64_t seed : {0, 1, 2}) {
    ScratchDir dir;
    Outcome o = StoreLoseLoad(dir.path(), /*durable=*/true, seed, 8);
    EXPECT_EQ(o.hits, 8) << seed;
    EXPECT_EQ(o.wrong, 0) << seed;
    // No chunk stored: only the namespace's own syncs keep fingerprint.json
    // (checked inside).
    ScratchDir empty;
    StoreLoseLoad(empty.path(), /*durable=*/true, seed, 0);
  }
}

TEST(PowerLoss, NonDurableChunksMayVanishButNeverReadBackTorn) {
  {
    // Losing everything unsynced loses every chunk: the model does bite.
    ScratchDir dir;
    Outcome o = StoreLoseLoad(dir.path(), /*durable=*/false, 0, 8);
    EXPECT_EQ(o.hits, 0);
  }
  Outcome total;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    ScratchDir dir;
    Outcome o = StoreLoseLoad(dir.path(), /*durable=*/false, seed, 8, /*warm_tree=*/true);
    EXPECT_EQ(o.wrong, 0) << seed;
    total.hits += o.hits;
    total.rejected += o.rejected;
  }
  // Across the seeds some chunks kept their name and bytes, and some kept
  // their name but lost bytes: those were read, rejected and removed.
  EXPECT_GT(total.hits, 0);
  EXPECT_GT(total.rejected, 0);
}

TEST(PowerLoss, FailedAccessTimeRefreshCostsNothingElse) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  StoreOptions opts;
  opts.env = &env;
  opts.touch_interval_ns = 0;  // every hit refreshes the access time
  opts.lookup_cache_ns = 0;
  auto store = OpenStore(dir.path(), opts);
  auto data = Payload(10000, 9);
  std::vector<char> out(data.size());
  ASSERT_TRUE(store->Put("k", data.data(), data.size()));

  env.SetError(FaultOp::kSetAtime, EACCES);
  const uint64_t injected = env.injected();
  EXPECT_TRUE(store->Get("k", out.data(), out.size()));  // load: File::SetAccessTime
  EXPECT_EQ(out, data);
  EXPECT_TRUE(store->Put("k", data.data(), data.size()));  // present: Dir::SetAccessTime
  EXPECT_EQ(env.injected(), injected + 2);
  EXPECT_EQ(Metric(*store, "touches_total"), 0);
  EXPECT_FALSE(env.SetAccessTime(dir.path(), 1).ok());  // the path call too

  env.ClearErrors();
  EXPECT_TRUE(store->Get("k", out.data(), out.size()));
  EXPECT_EQ(Metric(*store, "touches_total"), 1);
}

}  // namespace
}  // namespace kvtier
