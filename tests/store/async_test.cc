// The asynchronous engine: job ids, poll/wait, bounded queues, read priority.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <thread>

#include "env/fault_injection_env.h"
#include "test_util.h"

namespace kvtier {
namespace {

using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;

TEST(Async, SubmitPollWait) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  std::vector<std::vector<char>> data;
  std::vector<PutRequest> puts;
  for (int i = 0; i < 20; ++i) data.push_back(Payload(10000, static_cast<uint32_t>(i)));
  for (int i = 0; i < 20; ++i) puts.push_back({"k" + std::to_string(i), data[i].data(), 10000});
  uint64_t put_id = store->SubmitPut(puts);
  ASSERT_NE(put_id, 0u);
  JobResult r;
  ASSERT_TRUE(store->Wait(put_id, &r, -1));
  EXPECT_EQ(r.kind, JobKind::kPut);
  EXPECT_TRUE(r.all_ok());
  EXPECT_FALSE(store->Wait(put_id, &r, 0));  // already collected

  std::vector<std::vector<char>> out(21, std::vector<char>(10000));
  std::vector<GetRequest> gets;
  for (int i = 0; i < 21; ++i) gets.push_back({"k" + std::to_string(i), out[i].data(), 10000});
  uint64_t get_id = store->SubmitGet(gets);
  uint64_t has_id = store->SubmitContains({"k0", "nope", "k19"});
  uint64_t empty_id = store->SubmitContains({});
  std::vector<JobResult> done;
  for (int spin = 0; spin < 5000 && done.size() < 3; ++spin) {
    store->Poll(&done, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(done.size(), 3u);
  for (const JobResult& j : done) {
    if (j.job_id == get_id) {
      ASSERT_EQ(j.outcomes.size(), 21u);
      for (int i = 0; i < 20; ++i) EXPECT_TRUE(j.ok(i));
      EXPECT_EQ(j.outcomes[20], KeyOutcome::kMiss);  // the missing key fails alone
    } else if (j.job_id == has_id) {
      EXPECT_EQ(j.outcomes,
                (std::vector<KeyOutcome>{KeyOutcome::kOk, KeyOutcome::kMiss, KeyOutcome::kOk}));
    } else {
      EXPECT_EQ(j.job_id, empty_id);
      EXPECT_TRUE(j.outcomes.empty());
    }
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(out[i], data[i]);
}

// A store over a fault-injecting Env, whose operations can be slowed.
struct FaultStore {
  explicit FaultStore(StoreOptions opts = {}) {
    opts.env = &env;
    store = OpenStore(dir.path(), opts);
  }
  ScratchDir dir;
  FaultInjectionEnv env{Env::Default()};
  std::unique_ptr<Store> store;  // closed first
};

TEST(Async, WaitAnyCollectsWhicheverJobFinishes) {
  StoreOptions opts;
  opts.write_threads = 1;  // jobs finish one after another, in order
  FaultStore fs(opts);
  FaultInjectionEnv& env = fs.env;
  Store* store = fs.store.get();
  std::vector<JobResult> done;
  // Nothing submitted: returns at once, even with no time limit.
  EXPECT_EQ(store->WaitAny(&done, 8, -1), 0u);

  env.SetLatencyMicros(20000);
  std::vector<char> data = Payload(4096, 3);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(store->SubmitPut({{"w" + std::to_string(i), data.data(), data.size()}}));
    ASSERT_NE(ids.back(), 0u);
  }
  // The newest job, collected by Wait, is never handed out again.
  JobResult waited;
  ASSERT_TRUE(store->Wait(ids[5], &waited, -1));
  std::set<uint64_t> seen;
  while (seen.size() < 5) {
    size_t before = done.size();
    size_t got = store->WaitAny(&done, 2, -1);
    ASSERT_GE(got, 1u);  // blocks until something finishes
    ASSERT_LE(got, 2u);
    ASSERT_EQ(done.size(), before + got);
    for (size_t k = before; k < done.size(); ++k) {
      EXPECT_TRUE(done[k].all_ok());
      EXPECT_TRUE(seen.insert(done[k].job_id).second) << "collected twice";
    }
  }
  EXPECT_EQ(seen, std::set<uint64_t>(ids.begin(), ids.begin() + 5));
  // Everything collected: no wait, even unlimited.
  EXPECT_EQ(store->WaitAny(&done, 8, -1), 0u);
  EXPECT_EQ(store->WaitAny(&done, 8, INT64_MAX), 0u);
}

TEST(Async, WaitAnyReturnsWhenAnotherConsumerTakesTheLastJob) {
  // Two consumers wait for one job: the one that does not get it must not
  // sleep out its whole limit (it used to, being woken only by finished jobs).
  FaultStore fs;
  Store* store = fs.store.get();
  fs.env.SetLatencyMicros(50000);
  std::vector<char> data = Payload(4096, 5);
  ASSERT_NE(store->SubmitPut({{"only", data.data(), data.size()}}), 0u);
  std::atomic<int> collected{0};
  auto consumer = [&] {
    std::vector<JobResult> done;
    auto start = std::chrono::steady_clock::now();
    collected += static_cast<int>(store->WaitAny(&done, 1, 20'000'000'000));  // 20 s
    return std::chrono::steady_clock::now() - start;
  };
  std::chrono::steady_clock::duration a, b;
  std::thread other([&] { b = consumer(); });
  a = consumer();
  other.join();
  EXPECT_EQ(collected.load(), 1);
  EXPECT_LT(a, std::chrono::seconds(10));
  EXPECT_LT(b, std::chrono::seconds(10));
}

TEST(Async, WaitAndPollNeverCollectTheSameJob) {
  FaultStore fs;
  Store* store = fs.store.get();
  fs.env.SetLatencyMicros(20000);
  std::vector<char> data = Payload(4096, 6);
  for (int round = 0; round < 20; ++round) {
    uint64_t id = store->SubmitPut({{"r" + std::to_string(round), data.data(), data.size()}});
    ASSERT_NE(id, 0u);
    JobResult r;
    bool by_wait = false;
    std::thread waiter([&] { by_wait = store->Wait(id, &r, -1); });
    std::vector<JobResult> done;
    store->WaitAny(&done, 1, -1);
    waiter.join();
    EXPECT_EQ(done.size() + (by_wait ? 1 : 0), 1u) << "round " << round;
  }
}

TEST(Async, WriteQueueIsBoundedAndDropsAreCounted) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  env.SetLatencyMicros(20000);  // a disk far slower than the producer
  StoreOptions opts;
  opts.env = &env;
  opts.write_threads = 1;
  opts.max_queued_write_bytes = 100000;
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> data = Payload(30000, 1);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 50; ++i) {
    ids.push_back(store->SubmitPut({{"k" + std::to_string(i), data.data(), data.size()}}));
    EXPECT_LE(Metric(*store, "write_queue_bytes"), 100000);
  }
  int stored = 0, dropped = 0;
  for (uint64_t id : ids) {
    JobResult r;
    ASSERT_TRUE(store->Wait(id, &r, -1));
    stored += r.ok(0) ? 1 : 0;
    dropped += r.outcomes[0] == KeyOutcome::kDropped ? 1 : 0;
  }
  EXPECT_EQ(dropped, Metric(*store, "puts_dropped_total"));  // each failure is a drop
  EXPECT_GT(Metric(*store, "puts_dropped_total"), 30);
  EXPECT_EQ(stored + Metric(*store, "puts_dropped_total"), 50);
  EXPECT_GE(stored, 3);
}

TEST(Async, PendingJobsAreBounded) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  env.SetLatencyMicros(5000);
  StoreOptions opts;
  opts.env = &env;
  opts.max_pending_jobs = 4;
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> buf(100);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(store->SubmitGet({{"x", buf.data(), buf.size()}}));
  int refused = 0;
  for (uint64_t id : ids) refused += id == 0 ? 1 : 0;
  EXPECT_EQ(refused, 6);
  EXPECT_EQ(Metric(*store, "jobs_rejected_total"), 6);
}

TEST(Async, ReadsAreNotStuckBehindWrites) {
  ScratchDir dir;
  FaultInjectionEnv env(Env::Default());
  StoreOptions opts;
  opts.env = &env;
  opts.read_threads = 1;
  opts.write_threads = 1;
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> data = Payload(4096, 1), out(4096);
  ASSERT_TRUE(store->Put("hot", data.data(), data.size()));
  env.SetLatencyMicros(20000);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 20; ++i) {  // ~0.8 s of queued writes
    ids.push_back(store->SubmitPut({{"w" + std::to_string(i), data.data(), data.size()}}));
  }
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(store->Get("hot", out.data(), out.size()));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(400));
  for (uint64_t id : ids) {
    JobResult r;
    store->Wait(id, &r, -1);
  }
}

TEST(Async, ConcurrentClientsAndClose) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string key = "t" + std::to_string(t) + "-" + std::to_string(i % 10);
        std::vector<char> data = Payload(3000, static_cast<uint32_t>(i % 10 + 100 * t)), out(3000);
        if (!store->Put(key, data.data(), data.size())) ++bad;
        if (!store->Get(key, out.data(), out.size()) || out != data) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  store->Close();
  store->Close();
  std::vector<char> buf(10);
  EXPECT_EQ(store->SubmitGet({{"x", buf.data(), buf.size()}}), 0u);
}

}  // namespace
}  // namespace kvtier
