// Per-job I/O deadlines: a filesystem that stops answering (the fault env's
// stall) never holds a job, Close() or memory beyond the deadline, and an
// operation that returns late never touches the caller's buffer nor
// publishes a chunk.
#include <gtest/gtest.h>
#include <linux/magic.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "env/fault_injection_env.h"
#include "format/chunk_format.h"
#include "layout/layout.h"
#include "test_util.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;
using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;
using Ms = std::chrono::milliseconds;

// Long enough that a loaded machine under a sanitizer still submits, polls
// and closes well before it; the upper bounds add kSlackS, so a test fails
// on a job or Close that waits for the stalled call (never returns while it
// holds), not on a slow scheduler.
constexpr int64_t kDeadlineMs = 1500;
constexpr int64_t kDeadlineNs = kDeadlineMs * 1000 * 1000;
constexpr double kDeadlineS = kDeadlineMs / 1000.0;
constexpr double kSlackS = 1.5;
constexpr size_t kLen = 50000;  // not a multiple of 4 KiB
constexpr unsigned char kPattern = 0xA5;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Waits up to 10 s for a metric to reach at least `want`.
bool WaitMetric(const Store& store, const std::string& name, double want) {
  for (int i = 0; i < 1000; ++i) {
    if (Metric(store, name) >= want) return true;
    std::this_thread::sleep_for(Ms(10));
  }
  return false;
}

bool AllPattern(const std::vector<char>& buf) {
  for (char c : buf) {
    if (static_cast<unsigned char>(c) != kPattern) return false;
  }
  return true;
}

// A store on a scratch directory that passes for a FUSE mount (a filesystem
// that can stall), behind a fault env.
class Deadline : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.SetFsType(FUSE_SUPER_MAGIC);
    opts_.env = &env_;
    opts_.io_timeout_ns = kDeadlineNs;
    opts_.lookup_cache_ns = 0;
    opts_.read_threads = 4;  // reads go to the 4 readers (the writer sleeps on writes)
    opts_.write_threads = 1;
  }
  void TearDown() override {
    // Close first: a test that failed early has dropped its buffers, and
    // closing completes its jobs (their gates shut) while the stalls still
    // hold. Then release every stall and wait for the workers, which use
    // the env until their call returns.
    if (store_ != nullptr) store_->Close();
    for (unsigned op = 0; op < static_cast<unsigned>(FaultOp::kCount); ++op) {
      env_.Release(static_cast<FaultOp>(op));
    }
    if (store_ != nullptr) {
      for (int i = 0; i < 1000 && Metric(*store_, "workers") != 0; ++i) {
        std::this_thread::sleep_for(Ms(10));
      }
      EXPECT_EQ(Metric(*store_, "workers"), 0);
    }
  }
  void Open() {
    store_ = OpenStore(dir_.path(), opts_);
    ASSERT_NE(store_, nullptr);
  }
  void PutKeys(int n, std::vector<std::vector<char>>* data) {
    for (int i = 0; i < n; ++i) {
      data->push_back(Payload(kLen, static_cast<uint32_t>(i)));
      ASSERT_TRUE(store_->Put("k" + std::to_string(i), data->back().data(), kLen));
    }
  }
  uint64_t SubmitGets(int n, std::vector<std::vector<char>>* out) {
    out->assign(n, std::vector<char>(kLen, static_cast<char>(kPattern)));
    std::vector<GetRequest> gets;
    for (int i = 0; i < n; ++i) gets.push_back({"k" + std::to_string(i), (*out)[i].data(), kLen});
    return store_->SubmitGet(gets);
  }

  ScratchDir dir_;
  FaultInjectionEnv env_{Env::Default()};
  StoreOptions opts_;
  std::unique_ptr<Store> store_;
};

TEST_F(Deadline, StalledReadsFailAtTheDeadlineAndHitOnceTheStallClears) {
  Open();
  EXPECT_EQ(Metric(*store_, "staged_reads"), 1);
  std::vector<std::vector<char>> data, out;
  PutKeys(4, &data);
  env_.Stall(FaultOp::kRead);
  auto start = std::chrono::steady_clock::now();
  uint64_t id = SubmitGets(4, &out);
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(env_.WaitStalled(4, 5000));  // all four workers are blocked in a read
  std::vector<JobResult> done;
  // The scheduler's non-blocking poll sees nothing before the deadline...
  store_->Poll(&done, 8);
  EXPECT_TRUE(done.empty());
  // ...and the job at the deadline, every key failed.
  ASSERT_EQ(store_->WaitAny(&done, 8, 10LL * 1000 * 1000 * 1000), 1u);
  double took = Seconds(start);
  EXPECT_GE(took, kDeadlineS - 0.01);
  EXPECT_LT(took, kDeadlineS + kSlackS);
  EXPECT_EQ(done[0].job_id, id);
  EXPECT_EQ(done[0].outcomes, std::vector<KeyOutcome>(4, KeyOutcome::kTimedOut));
  EXPECT_EQ(Metric(*store_, "io_timeouts_total.get"), 4);
  EXPECT_EQ(Metric(*store_, "jobs_timed_out_total"), 1);
  EXPECT_EQ(Metric(*store_, "pending_jobs"), 0);
  // A Poll from the scheduler never waits on the stuck reads.
  auto poll_start = std::chrono::steady_clock::now();
  store_->Poll(&done, 8);
  EXPECT_LT(Seconds(poll_start), kSlackS);
  // Workers stuck longer than the deadline are visible.
  std::this_thread::sleep_for(Ms(50));
  EXPECT_EQ(Metric(*store_, "stalled_workers"), 4);

  env_.Release(FaultOp::kRead);
  ASSERT_TRUE(WaitMetric(*store_, "late_completions_total", 4));
  EXPECT_EQ(Metric(*store_, "get_hits_total"), 0);
  EXPECT_EQ(Metric(*store_, "stalled_workers"), 0);
  for (int i = 0; i < 4; ++i) {
    std::vector<char> got(kLen);
    ASSERT_TRUE(store_->Get("k" + std::to_string(i), got.data(), kLen));
    EXPECT_EQ(got, data[i]);
  }
}

TEST_F(Deadline, KeysFinishedBeforeTheDeadlineKeepTheirOutcomes) {
  Open();
  std::vector<std::vector<char>> data;
  PutKeys(1, &data);
  env_.Stall(FaultOp::kRead);
  std::vector<char> a(kLen), b(kLen);
  // "absent" fails at its open (never stalled), "k0" blocks in its read.
  uint64_t id = store_->SubmitGet({{"absent", a.data(), kLen}, {"k0", b.data(), kLen}});
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(env_.WaitStalled(1, 5000));
  JobResult r;
  ASSERT_TRUE(store_->Wait(id, &r, -1));  // returns at the deadline
  EXPECT_EQ(r.outcomes, (std::vector<KeyOutcome>{KeyOutcome::kMiss, KeyOutcome::kTimedOut}));
  EXPECT_EQ(Metric(*store_, "io_timeouts_total.get"), 1);
}

TEST_F(Deadline, ALateReadNeverWritesIntoTheCallersBuffer) {
  Open();
  std::vector<std::vector<char>> data, out;
  PutKeys(4, &data);
  env_.Stall(FaultOp::kRead);
  ASSERT_NE(SubmitGets(4, &out), 0u);
  ASSERT_TRUE(env_.WaitStalled(4, 5000));
  std::vector<JobResult> done;
  ASSERT_EQ(store_->WaitAny(&done, 8, 10LL * 1000 * 1000 * 1000), 1u);
  EXPECT_EQ(done[0].outcomes[0], KeyOutcome::kTimedOut);
  // The reads complete now, after the job was reported: every byte of every
  // buffer must still be the caller's.
  env_.Release(FaultOp::kRead);
  ASSERT_TRUE(WaitMetric(*store_, "late_completions_total", 4));
  for (const auto& buf : out) EXPECT_TRUE(AllPattern(buf));
}

TEST_F(Deadline, SynchronousCallsReturnAtTheDeadline) {
  Open();
  std::vector<std::vector<char>> data;
  PutKeys(1, &data);
  env_.Stall(FaultOp::kRead);
  std::vector<char> out(kLen, static_cast<char>(kPattern));
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(store_->Get("k0", out.data(), kLen));
  EXPECT_LT(Seconds(start), kDeadlineS + kSlackS);
  env_.Stall(FaultOp::kStat);
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(store_->Contains({"k0", "k1"}), std::vector<bool>(2, false));
  EXPECT_LT(Seconds(start), kDeadlineS + kSlackS);
  EXPECT_GE(Metric(*store_, "io_timeouts_total.contains"), 1);
  env_.Release(FaultOp::kRead);
  env_.Release(FaultOp::kStat);
  ASSERT_TRUE(WaitMetric(*store_, "late_completions_total", 1));
  EXPECT_TRUE(AllPattern(out));
  EXPECT_EQ(store_->Contains({"k0"}), std::vector<bool>{true});
}

TEST_F(Deadline, CloseReturnsWithinTheBoundWhileAReadIsStalled) {
  Open();
  std::vector<std::vector<char>> data, out;
  PutKeys(2, &data);
  env_.Stall(FaultOp::kRead);
  ASSERT_NE(SubmitGets(2, &out), 0u);
  ASSERT_TRUE(env_.WaitStalled(2, 5000));
  auto start = std::chrono::steady_clock::now();
  store_->Close();
  // The bound: the job's deadline (at most kDeadlineS away) + 100 ms for
  // workers, with slack for a loaded machine.
  EXPECT_LT(Seconds(start), kDeadlineS + 0.1 + kSlackS);
  EXPECT_GE(Metric(*store_, "workers"), 2);  // the two stuck ones were left behind
  env_.Release(FaultOp::kRead);
  for (int i = 0; i < 1000 && Metric(*store_, "workers") != 0; ++i) {
    std::this_thread::sleep_for(Ms(10));
  }
  EXPECT_EQ(Metric(*store_, "workers"), 0);
  for (const auto& buf : out) EXPECT_TRUE(AllPattern(buf));
}

TEST_F(Deadline, AStoreReleasedAfterTheDeadlineIsNeverPublished) {
  opts_.direct_io = DirectIoMode::kOff;
  Open();
  std::vector<char> src = Payload(kLen, 7);
  env_.Stall(FaultOp::kWrite);
  uint64_t id = store_->SubmitPut({{"late", src.data(), kLen}});
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(env_.WaitStalled(1, 5000));
  JobResult r;
  ASSERT_TRUE(store_->Wait(id, &r, -1));  // returns at the deadline
  EXPECT_EQ(r.outcomes, std::vector<KeyOutcome>{KeyOutcome::kTimedOut});
  EXPECT_EQ(Metric(*store_, "io_timeouts_total.put"), 1);
  // The caller reuses its buffer for another request, then the write lands.
  std::memset(src.data(), 0x5A, kLen);
  env_.Release(FaultOp::kWrite);
  ASSERT_TRUE(WaitMetric(*store_, "late_completions_total", 1));
  EXPECT_FALSE(fs::exists(LocateChunk(store_->namespace_dir(), "late").path));
  for (auto& e : fs::recursive_directory_iterator(dir_.path())) {
    EXPECT_FALSE(IsTempFileName(e.path().filename().string())) << e.path();
  }
  EXPECT_EQ(Metric(*store_, "puts_stored_total"), 0);
  EXPECT_EQ(store_->Contains({"late"}), std::vector<bool>{false});
}

TEST_F(Deadline, BytesChangedUnderAStoreFailVerification) {
  // A caller that breaks the contract (changes the bytes while the store is
  // in flight, before any deadline) gets a chunk that never verifies.
  opts_.io_timeout_ns = 0;
  opts_.direct_io = DirectIoMode::kOff;
  Open();
  std::vector<char> src = Payload(kLen, 8);
  env_.Stall(FaultOp::kWrite);
  uint64_t id = store_->SubmitPut({{"torn", src.data(), kLen}});
  ASSERT_TRUE(env_.WaitStalled(1, 5000));
  std::memset(src.data(), 0x5A, kLen);
  env_.Release(FaultOp::kWrite);
  JobResult r;
  ASSERT_TRUE(store_->Wait(id, &r, -1));
  std::vector<char> got(kLen);
  EXPECT_FALSE(store_->Get("torn", got.data(), kLen));
  EXPECT_EQ(Metric(*store_, "verify_failures_total.payload_checksum"), 1);
}

TEST_F(Deadline, ManyStuckJobsStayBounded) {
  opts_.max_pending_jobs = 8;
  Open();
  std::vector<std::vector<char>> data;
  PutKeys(4, &data);
  env_.Stall(FaultOp::kRead);
  std::vector<std::vector<std::vector<char>>> outs(40);
  for (int round = 0; round < 5; ++round) {
    for (int j = 0; j < 8; ++j) ASSERT_NE(SubmitGets(4, &outs[round * 8 + j]), 0u);
    std::vector<std::vector<char>> extra;
    EXPECT_EQ(SubmitGets(4, &extra), 0u);  // over max_pending_jobs: refused, counted
    std::vector<JobResult> done;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (done.size() < 8 && std::chrono::steady_clock::now() < until) {
      store_->WaitAny(&done, 8, 1000LL * 1000 * 1000);
    }
    ASSERT_EQ(done.size(), 8u);
    for (const auto& d : done)
      EXPECT_EQ(d.outcomes, std::vector<KeyOutcome>(4, KeyOutcome::kTimedOut));
    // Nothing of the abandoned jobs stays queued behind the stuck workers.
    EXPECT_EQ(Metric(*store_, "read_queue_depth"), 0);
    EXPECT_EQ(Metric(*store_, "pending_jobs"), 0);
  }
  EXPECT_EQ(Metric(*store_, "jobs_rejected_total"), 5);
  EXPECT_EQ(Metric(*store_, "jobs_timed_out_total"), 40);
  // Only the stuck workers hold memory: one staging buffer each (the
  // writer, awake, may have taken a read too), however many jobs timed out.
  const double chunk = AlignUp(kLen, kBlockSize);
  EXPECT_GE(Metric(*store_, "staging_bytes"), 4 * chunk);
  EXPECT_LE(Metric(*store_, "staging_bytes"), 5 * chunk);
  env_.Release(FaultOp::kRead);
  ASSERT_TRUE(WaitMetric(*store_, "late_completions_total", 4));
  for (const auto& out : outs) {
    for (const auto& buf : out) EXPECT_TRUE(AllPattern(buf));
  }
  std::vector<char> got(kLen);
  ASSERT_TRUE(store_->Get("k3", got.data(), kLen));
  EXPECT_EQ(got, data[3]);
}

TEST_F(Deadline, MemoryFilesystemsReadStraightIntoTheBuffer) {
  env_.SetFsType(TMPFS_MAGIC);
  Open();
  EXPECT_EQ(Metric(*store_, "staged_reads"), 0);
  std::vector<std::vector<char>> data, out;
  PutKeys(3, &data);
  uint64_t id = SubmitGets(3, &out);
  JobResult r;
  ASSERT_TRUE(store_->Wait(id, &r, -1));
  EXPECT_TRUE(r.all_ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], data[i]);
  EXPECT_EQ(Metric(*store_, "staging_bytes"), 0);
}

}  // namespace
}  // namespace kvtier
