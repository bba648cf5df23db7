// The removal journal: what the evictor deletes is listed, checksummed, in
// segments inside the namespace; segments are bounded and rotated; the
// journal never disturbs the scan or the deletion of chunks.
#include "evictor/journal.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "evictor_test_util.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT

std::vector<std::string> SegmentNames(const std::string& ns) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(ns + "/" + kJournalDir, ec)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Names of every valid record of every segment; *bad counts the others.
std::multiset<std::string> ReadRecords(const std::string& ns, int* bad) {
  std::multiset<std::string> names;
  for (const std::string& seg : SegmentNames(ns)) {
    int replica = 0;
    uint64_t seq = 0;
    if (!ParseSegmentName(seg, &replica, &seq)) continue;
    std::ifstream in(ns + "/" + kJournalDir + "/" + seg);
    std::string line;
    while (std::getline(in, line)) {
      size_t sp = line.find(' ');
      char want[9];
      std::snprintf(want, sizeof(want), "%08x",
                    sp == std::string::npos ? 0u : Crc32(line.substr(0, sp)));
      if (sp == std::string::npos || line.substr(sp + 1) != want) {
        ++*bad;
        continue;
      }
      names.insert(line.substr(0, sp));
    }
  }
  return names;
}

TEST(Journal, Crc32MatchesZlib) {
  // zlib.crc32(b"123456789") == 0xcbf43926, the standard check value.
  EXPECT_EQ(Crc32("123456789"), 0xcbf43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

TEST(Journal, SegmentNames) {
  int r = -1;
  uint64_t seq = 0;
  EXPECT_TRUE(ParseSegmentName("r3-00000000000000ff.log", &r, &seq));
  EXPECT_EQ(r, 3);
  EXPECT_EQ(seq, 255u);
  for (const char* bad : {"r3-00000000000000ff.lo", "r-00000000000000ff.log",
                          "r3-00000000000000FF.log", "r12345-00000000000000ff.log",
                          "x3-00000000000000ff.log", ".tmp.r3-00000000000000ff", "r3-ff.log"}) {
    EXPECT_FALSE(ParseSegmentName(bad, &r, &seq)) << bad;
  }
}

TEST(Journal, EvictorJournalsExactlyWhatItDeleted) {
  ScratchDir dir;
  std::unique_ptr<Logger> logger = QuietLogger();
  const std::string ns = MakeKvtierNamespace(dir.path());
  const std::string vllm_ns = dir.path() + "/m_0123456789ab_r0";
  const int64_t old = WallNs() - 86400 * kSec;
  std::set<std::string> expected;
  for (int i = 0; i < 150; ++i) {  // more than one delete batch
    std::string key = "key" + std::to_string(i);
    WriteKvtierChunk(ns, key, 100, old + i, old);
    ChunkLocation loc = LocateChunk("", key);
    expected.insert(loc.path.substr(1));  // "aa/bb/<name>"
  }
  WriteVllmChunk(vllm_ns, "abcdef0123", 100, old, old);
  EvictorOptions o = TestOptions(dir.path(), logger.get());
  std::vector<std::string> deleted;
  o.on_deleted = [&](const std::string& p) { deleted.push_back(p); };
  auto ev = EvictAll(o);
  ASSERT_EQ(deleted.size(), 151u);

  int bad = 0;
  std::multiset<std::string> got = ReadRecords(ns, &bad);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), expected);
  EXPECT_EQ(got.size(), expected.size());  // each name once
  // vLLM's own layout has no tailing engine: no journal there.
  EXPECT_FALSE(Exists(vllm_ns + "/" + kJournalDir));
  // Only published segments are left (no temp files).
  for (const std::string& s : SegmentNames(ns)) {
    EXPECT_TRUE(s.rfind("r0-", 0) == 0 || s == "usage.r0") << s;
  }

  // A second pass over the same tree: the journal directory is neither
  // indexed nor deleted, and `journal/` is no chunk.
  auto ev2 = EvictAll(o);
  EXPECT_EQ(ev2->metrics().files_indexed->value(), 0);
  EXPECT_FALSE(SegmentNames(ns).empty());
}

TEST(Journal, UsageOfTheShare) {
  ScratchDir dir;
  std::unique_ptr<Logger> logger = QuietLogger();
  const std::string ns = MakeKvtierNamespace(dir.path());
  const int64_t old = WallNs() - 86400 * kSec;
  uint64_t bytes = 0;
  for (int i = 0; i < 10; ++i) {
    std::string p = WriteKvtierChunk(ns, "u" + std::to_string(i), 5000, old, old);
    struct stat st;
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  EvictorOptions o = TestOptions(dir.path(), logger.get());
  o.config.quota_bytes = 1ULL << 40;  // far below the high mark: nothing deleted
  o.config.once = true;
  std::unique_ptr<Evictor> ev;
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  ASSERT_TRUE(ev->RunOnce().ok());
  std::ifstream in(ns + "/" + kJournalDir + "/usage.r0");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const std::string want = "chunks 10 bytes " + std::to_string(bytes) + " time ";
  EXPECT_EQ(line.substr(0, want.size()), want) << line;
  size_t sp = line.rfind(' ');
  char crc[9];
  std::snprintf(crc, sizeof(crc), "%08x", Crc32(line.substr(0, sp)));
  EXPECT_EQ(line.substr(sp + 1), crc);
  EXPECT_TRUE(Exists(LocateChunk(ns, "u0").path));
}

// Allocated bytes of `ns`'s journal files named r<replica>-*.log or
// usage.r<replica>.
uint64_t JournalBytes(const std::string& ns, int replica) {
  const std::string r = std::to_string(replica);
  uint64_t total = 0;
  for (const std::string& name : SegmentNames(ns)) {
    if (name.rfind("r" + r + "-", 0) != 0 && name != "usage.r" + r) continue;
    struct stat st;
    if (::stat((ns + "/" + kJournalDir + "/" + name).c_str(), &st) == 0) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

TEST(Journal, OwnBytesFollowTheReplicasFiles) {
  ScratchDir dir;
  const std::string ns_name = "m-0123456789ab";
  const std::string ns = dir.path() + "/" + ns_name;
  MkdirAll(ns + "/" + kJournalDir);
  // Left by an earlier run of replica 1, and a file of replica 2.
  char left[64], other[64];
  std::snprintf(left, sizeof(left), "r1-%016llx.log",
                static_cast<unsigned long long>(WallNs() - 60 * kSec));
  std::snprintf(other, sizeof(other), "r2-%016llx.log",
                static_cast<unsigned long long>(WallNs() - 60 * kSec));
  ASSERT_TRUE(WriteFile(ns + "/" + kJournalDir + "/" + left, 100000));
  ASSERT_TRUE(WriteFile(ns + "/" + kJournalDir + "/" + other, 100000));
  std::unique_ptr<Dir> root;
  ASSERT_TRUE(Env::Default()->OpenDir(dir.path(), &root).ok());
  constexpr int kMax = 4;
  RemovalJournal j(Env::Default(), root.get(), dir.path(), 1, 3600 * kSec, kMax);
  EXPECT_EQ(j.OwnBytes(), 0u);  // nothing listed yet
  ASSERT_TRUE(j.WriteUsage(ns_name, 3, 3000).ok());
  EXPECT_GE(j.OwnBytes(), 100000u);  // the earlier run's segment counts
  EXPECT_EQ(j.OwnBytes(), JournalBytes(ns, 1));
  for (int i = 0; i < kMax + 3; ++i) {
    ASSERT_TRUE(j.Add(ns_name, std::string(3000, 'a' + i)).ok());
    ASSERT_TRUE(j.Flush().ok());
    EXPECT_EQ(j.OwnBytes(), JournalBytes(ns, 1)) << i;
  }
  EXPECT_FALSE(Exists(ns + "/" + kJournalDir + "/" + left));  // rotated out
  EXPECT_LT(j.OwnBytes(), 100000u);
}

TEST(Journal, QuotaCountsTheJournal) {
  // Chunks alone are a quarter of the quota; a journal segment of this
  // replica (left by an earlier run) takes usage over the high mark, and the
  // tick after the journal was counted evicts.
  ScratchDir dir;
  std::unique_ptr<Logger> logger = QuietLogger();
  const std::string ns = MakeKvtierNamespace(dir.path());
  const int64_t old = WallNs() - 86400 * kSec;
  uint64_t bytes = 0;
  for (int i = 0; i < 4; ++i) {
    std::string p = WriteKvtierChunk(ns, "q" + std::to_string(i), 5000, old, old);
    struct stat st;
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  MkdirAll(ns + "/" + kJournalDir);
  char left[64];
  std::snprintf(left, sizeof(left), "r0-%016llx.log",
                static_cast<unsigned long long>(WallNs() - 60 * kSec));
  ASSERT_TRUE(WriteFile(ns + "/" + kJournalDir + "/" + left, 4 * bytes));
  EvictorOptions o = TestOptions(dir.path(), logger.get());
  o.config.quota_bytes = 4 * bytes;
  std::unique_ptr<Evictor> ev;
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  ASSERT_TRUE(ev->RunOnce().ok());  // lists the journal while noting usage
  EXPECT_EQ(ev->metrics().files_evicted->value(), 0);
  ASSERT_TRUE(ev->RunOnce().ok());
  EXPECT_GT(ev->metrics().files_evicted->value(), 0);
  EXPECT_FALSE(Exists(LocateChunk(ns, "q0").path) && Exists(LocateChunk(ns, "q1").path) &&
               Exists(LocateChunk(ns, "q2").path) && Exists(LocateChunk(ns, "q3").path));
}

TEST(Journal, DryRunAndDisabledWriteNothing) {
  ScratchDir dir;
  std::unique_ptr<Logger> logger = QuietLogger();
  const std::string ns = MakeKvtierNamespace(dir.path());
  const int64_t old = WallNs() - 86400 * kSec;
  for (int i = 0; i < 5; ++i) WriteKvtierChunk(ns, "k" + std::to_string(i), 100, old, old);
  EvictorOptions o = TestOptions(dir.path(), logger.get());
  o.config.dry_run = true;
  EvictAll(o);
  EXPECT_FALSE(Exists(ns + "/" + kJournalDir));
  o.config.dry_run = false;
  o.config.journal_keep_s = 0;
  EvictAll(o);
  EXPECT_FALSE(Exists(ns + "/" + kJournalDir));
  EXPECT_FALSE(Exists(LocateChunk(ns, "k0").path));
}

TEST(Journal, SegmentsAreBoundedAndRotated) {
  ScratchDir dir;
  const std::string ns_name = "m-0123456789ab";
  MkdirAll(dir.path() + "/" + ns_name);
  std::unique_ptr<Dir> root;
  ASSERT_TRUE(Env::Default()->OpenDir(dir.path(), &root).ok());
  RemovalJournal j(Env::Default(), root.get(), dir.path(), /*replica=*/0, /*keep_ns=*/3600 * kSec);
  // Enough names to overflow one segment several times.
  const std::string name(200, 'a');
  const size_t n = 3 * kMaxSegmentBytes / (name.size() + 10) + 7;
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(j.Add(ns_name, name).ok());
  ASSERT_TRUE(j.Flush().ok());
  const std::string ns = dir.path() + "/" + ns_name;
  std::vector<std::string> segs = SegmentNames(ns);
  EXPECT_GE(segs.size(), 4u);
  for (const std::string& s : segs) {
    EXPECT_LE(std::filesystem::file_size(ns + "/" + kJournalDir + "/" + s), kMaxSegmentBytes);
  }
  int bad = 0;
  EXPECT_EQ(ReadRecords(ns, &bad).size(), n);

  // Old segments go: this replica's past keep, another replica's past
  // twice keep; a recent one of another replica stays.
  const std::string jdir = ns + "/" + kJournalDir + "/";
  char old_name[64], other_old[64], other_new[64];
  std::snprintf(old_name, sizeof(old_name), "r0-%016llx.log",
                static_cast<unsigned long long>(WallNs() - 7200 * kSec));
  std::snprintf(other_old, sizeof(other_old), "r5-%016llx.log",
                static_cast<unsigned long long>(WallNs() - 3LL * 3600 * kSec));
  std::snprintf(other_new, sizeof(other_new), "r5-%016llx.log",
                static_cast<unsigned long long>(WallNs() - 60 * kSec));
  for (const char* f : {old_name, other_old, other_new}) WriteFile(jdir + f, 10);
  // A stale temp file of this replica, and a foreign file (left alone).
  WriteFile(jdir + ".tmp.r0-0000000000000001", 10);
  SetTimes(jdir + ".tmp.r0-0000000000000001", WallNs() - 7200 * kSec, WallNs() - 7200 * kSec);
  WriteFile(jdir + "notes.txt", 10);
  ASSERT_TRUE(j.Add(ns_name, "bb").ok());
  ASSERT_TRUE(j.Flush().ok());
  EXPECT_FALSE(Exists(jdir + old_name));
  EXPECT_FALSE(Exists(jdir + other_old));
  EXPECT_TRUE(Exists(jdir + other_new));
  EXPECT_FALSE(Exists(jdir + ".tmp.r0-0000000000000001"));
  EXPECT_TRUE(Exists(jdir + "notes.txt"));
}

TEST(Journal, KeepsAtMostMaxSegmentsPerReplica) {
  ScratchDir dir;
  const std::string ns_name = "m-0123456789ab";
  MkdirAll(dir.path() + "/" + ns_name);
  std::unique_ptr<Dir> root;
  ASSERT_TRUE(Env::Default()->OpenDir(dir.path(), &root).ok());
  constexpr int kMax = 16;  // the rule of kMaxSegments, at a size a loaded machine runs fast
  RemovalJournal j(Env::Default(), root.get(), dir.path(), 2, 3600 * kSec, kMax);
  for (int i = 0; i < kMax + 20; ++i) {
    ASSERT_TRUE(j.Add(ns_name, "n" + std::to_string(i)).ok());
    ASSERT_TRUE(j.Flush().ok());
  }
  std::vector<std::string> segs = SegmentNames(dir.path() + "/" + ns_name);
  EXPECT_EQ(segs.size(), static_cast<size_t>(kMax));
  int bad = 0;
  std::multiset<std::string> got = ReadRecords(dir.path() + "/" + ns_name, &bad);
  EXPECT_EQ(got.count("n0"), 0u);  // the oldest went first
  EXPECT_EQ(got.count("n" + std::to_string(kMax + 19)), 1u);
}

}  // namespace
}  // namespace kvtier::evictor
