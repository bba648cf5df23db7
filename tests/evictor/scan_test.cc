// The parallel scan builds the same index as the sequential one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "evictor/scanner.h"
#include "evictor_test_util.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT

// Every directory of the index with what the scan recorded about it, and
// its files in index order.
void Dump(const FileIndex& index, uint32_t id, std::ostringstream* out) {
  const IndexedDir& d = index.dir(id);
  *out << index.RelPath(id) << " role=" << static_cast<int>(d.role)
       << " layout=" << static_cast<int>(d.layout) << " other=" << d.other_bytes
       << " listed=" << d.listed_mtime_ns << " revisit=" << d.revisit << "\n";
  for (const IndexedFile& f : d.files) {
    *out << "  " << f.name_hash << " " << f.atime_ns << " " << f.change_ns << " " << f.alloc
         << "\n";
  }
  for (uint32_t c : d.children) Dump(index, c, out);
}

std::string Dump(const FileIndex& index) {
  std::ostringstream out;
  Dump(index, FileIndex::kRootDir, &out);
  return out.str();
}

std::set<std::string> Stale(const FileIndex& index, const ScanResult& r) {
  std::set<std::string> s;
  for (const StaleEntry& e : r.stale) {
    s.insert(index.RelPath(e.dir) + "/" + e.name + (e.is_dir ? "/" : ""));
  }
  return s;
}

class ParallelScan : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = scratch_.path() + "/cache";
    MkdirAll(root_);
    now_ = WallNs();
    old_ = now_ - 86400 * kSec;
    ns_a_ = MakeKvtierNamespace(root_, "a");
    ns_b_ = MakeKvtierNamespace(root_, "b");
    vllm_ = root_ + "/m_0123456789ab_r0";
    for (int i = 0; i < 300; ++i) {
      WriteKvtierChunk(ns_a_, "a" + std::to_string(i), 100 + i, old_ + i * kSec, old_);
      if (i % 3 == 0) WriteKvtierChunk(ns_b_, "b" + std::to_string(i), 5000, old_ + i, old_);
      char hash[17];
      std::snprintf(hash, sizeof(hash), "%016llx", 0x9e3779b97f4a7c15ULL * (i + 1));
      if (i % 2 == 0) WriteVllmChunk(vllm_, hash, 4096, old_ + i * kSec, old_);
    }
    // Temp files: stale and fresh, in leaves, fan-outs and namespaces.
    ChunkLocation loc = LocateChunk(ns_a_, "a7");
    WriteFile(loc.leaf_dir + "/.tmp.old", 10);
    SetTimes(loc.leaf_dir + "/.tmp.old", old_, old_);
    WriteFile(loc.leaf_dir + "/.tmp.new", 10);
    WriteFile(loc.leaf_dir + "/../.tmp.fan", 10);
    SetTimes(loc.leaf_dir + "/../.tmp.fan", old_, old_);
    WriteFile(ns_b_ + "/.tmp.fp", 10);
    SetTimes(ns_b_ + "/.tmp.fp", old_, old_);
    std::string vtmp = VllmChunkPath(vllm_, "abcdef0123") + "_17.tmp";
    MkdirAll(std::filesystem::path(vtmp).parent_path().string());
    WriteFile(vtmp, 10);
    SetTimes(vtmp, old_, old_);
    // Junk that is never a chunk: foreign names, a symlink, a subdirectory
    // in a leaf, a namespace without fingerprint, files at the root.
    WriteFile(loc.leaf_dir + "/notes.txt", 77);
    WriteFile(loc.leaf_dir + "/abc.kv", 5);
    EXPECT_EQ(::symlink("/etc/passwd", (loc.leaf_dir + "/link.kv").c_str()), 0);
    MkdirAll(loc.leaf_dir + "/sub.kv");
    WriteFile(ns_a_ + "/stray.kv", 9);
    MkdirAll(root_ + "/fake-0123456789ab/00/00");
    WriteFile(root_ + "/README", 3);
    MkdirAll(ns_a_ + "/zz/00");
    // Empty directories, old and new.
    MkdirAll(ns_b_ + "/ff/fe");
    SetTimes(ns_b_ + "/ff/fe", old_, old_);
    MkdirAll(ns_b_ + "/fe");
    SetTimes(ns_b_ + "/fe", old_, old_);
    MkdirAll(ns_a_ + "/fd/fc");
  }

  ScanOptions Options(int threads, bool full) const {
    ScanOptions o;
    o.now_ns = now_;
    o.tmp_grace_ns = 3600 * kSec;
    o.dir_grace_ns = 600 * kSec;
    o.full = full;
    o.threads = threads;
    return o;
  }

  std::unique_ptr<Dir> OpenRoot() {
    std::unique_ptr<Dir> d;
    EXPECT_TRUE(Env::Default()->OpenDir(root_, &d).ok());
    return d;
  }

  ScratchDir scratch_;
  std::string root_, ns_a_, ns_b_, vllm_;
  int64_t now_, old_;
};

TEST_F(ParallelScan, SameIndexAndStaleListAsSequential) {
  auto root = OpenRoot();
  for (int replicas : {1, 3}) {
    for (int index = 0; index < replicas; ++index) {
      FileIndex seq, par;
      Scanner s1(root.get(), &seq);
      Scanner s8(root.get(), &par);
      ScanOptions o1 = Options(1, true), o8 = Options(8, true);
      o1.replicas = o8.replicas = replicas;
      o1.replica_index = o8.replica_index = index;
      ScanResult r1, r8;
      ASSERT_TRUE(s1.Scan(o1, &r1).ok());
      ASSERT_TRUE(s8.Scan(o8, &r8).ok());
      EXPECT_EQ(Dump(seq), Dump(par));
      EXPECT_EQ(Stale(seq, r1), Stale(par, r8));
      EXPECT_EQ(r1.dirs_listed, r8.dirs_listed);
      EXPECT_EQ(r1.files_stated, r8.files_stated);
      EXPECT_EQ(r1.errors, r8.errors);
      if (replicas == 1) {
        EXPECT_EQ(seq.Totals().files, 300u + 100u + 150u);
        // What the fixture planted is found, by both.
        std::set<std::string> stale = Stale(par, r8);
        EXPECT_EQ(stale.size(), 6u) << ::testing::PrintToString(stale);
      }
    }
  }
}

TEST_F(ParallelScan, IncrementalScansStayEqual) {
  auto root = OpenRoot();
  FileIndex seq, par;
  Scanner s1(root.get(), &seq);
  Scanner s8(root.get(), &par);
  ScanResult r1, r8;
  // Leaves written "now" are racy and revisited; age them so that an
  // incremental pass can skip them.
  ASSERT_TRUE(s1.Scan(Options(1, true), &r1).ok());
  ASSERT_TRUE(s8.Scan(Options(8, true), &r8).ok());
  for (int i = 300; i < 340; ++i) {
    WriteKvtierChunk(ns_a_, "a" + std::to_string(i), 50, old_, old_);
  }
  ::unlink(LocateChunk(ns_a_, "a3").path.c_str());
  std::filesystem::remove_all(ns_b_ + "/00");
  std::filesystem::remove_all(vllm_);
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_TRUE(s1.Scan(Options(1, false), &r1).ok());
    ASSERT_TRUE(s8.Scan(Options(8, false), &r8).ok());
    EXPECT_EQ(Dump(seq), Dump(par));
    EXPECT_EQ(Stale(seq, r1), Stale(par, r8));
    EXPECT_EQ(r1.dirs_skipped, r8.dirs_skipped);
  }
  EXPECT_GT(r8.dirs_skipped, 0u);
  // And the incremental index holds what a fresh full scan finds.
  FileIndex fresh;
  Scanner sf(root.get(), &fresh);
  ScanResult rf;
  ASSERT_TRUE(sf.Scan(Options(1, true), &rf).ok());
  EXPECT_EQ(
      fresh.Totals().files, 300u + 40u - 1u + 100u - 0u - [&] {
        uint64_t gone = 0;  // ns_b_ chunks that were in fan-out 00
        for (int i = 0; i < 300; i += 3) {
          gone += LocateChunk("", "b" + std::to_string(i)).leaf_dir.substr(1, 2) == "00" ? 1 : 0;
        }
        return gone;
      }());
  EXPECT_EQ(par.Totals().files, fresh.Totals().files);
  EXPECT_EQ(par.Totals().chunk_bytes, fresh.Totals().chunk_bytes);
}

TEST_F(ParallelScan, StopLeavesNoPartialFanout) {
  auto root = OpenRoot();
  FileIndex par;
  Scanner s8(root.get(), &par);
  std::atomic<bool> stop{true};
  ScanOptions o = Options(8, true);
  o.stop = &stop;
  ScanResult r;
  ASSERT_TRUE(s8.Scan(o, &r).ok());
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(par.Totals().files, 0u);
}

}  // namespace
}  // namespace kvtier::evictor
