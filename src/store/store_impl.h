// StoreImpl: the Store behind Store::Open. Owns the worker threads, the two
// bounded queues (reads and lookups before writes), the job table and the
// jobs' deadlines. Shared with its workers (enable_shared_from_this): a
// worker blocked in the filesystem when Close() gives up on it keeps the
// internals alive until its call returns.
#ifndef KVTIER_SRC_STORE_STORE_IMPL_H_
#define KVTIER_SRC_STORE_STORE_IMPL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "kvtier/store.h"
#include "store/chunk_io.h"
#include "store/job.h"
#include "store/lookup_cache.h"
#include "store/store_metrics.h"

namespace kvtier {

class StoreImpl final : public Store, public std::enable_shared_from_this<StoreImpl> {
 public:
  StoreImpl(Env* env, StoreOptions options, std::string ns_dir, const Fingerprint& fp,
            uint64_t writer_id, bool usable, bool direct, bool use_uring, bool memory_fs);
  ~StoreImpl() override;

  // Starts the workers; each holds a reference to this. Call once, right
  // after make_shared.
  void Start();

  uint64_t SubmitPut(std::vector<PutRequest> requests) override;
  uint64_t SubmitGet(std::vector<GetRequest> requests) override;
  uint64_t SubmitContains(std::vector<std::string> keys) override;
  void Poll(std::vector<JobResult>* results, size_t max_results) override;
  size_t WaitAny(std::vector<JobResult>* results, size_t max_results, int64_t timeout_ns) override;
  bool Put(std::string_view key, const void* data, size_t len) override;
  bool Get(std::string_view key, void* buf, size_t len) override;
  std::vector<bool> Contains(const std::vector<std::string>& keys) override;
  bool Wait(uint64_t job_id, JobResult* result, int64_t timeout_ns) override;
  std::string MetricsText() const override;
  std::map<std::string, double> MetricsMap() const override;
  const std::string& namespace_dir() const override { return ns_dir_; }
  const char* io_backend_name() const override { return use_uring_ ? "io_uring" : "threadpool"; }
  bool direct_io() const override { return io_opts_.direct; }
  bool usable() const override { return usable_; }
  void Close() override;

  StoreMetrics* metrics() { return &metrics_; }
  // An authenticated namespace's keys (Open, before Start()).
  void SetChunkKeys(std::shared_ptr<const NamespaceKeys> keys, bool encrypt) {
    io_opts_.keys = std::move(keys);
    io_opts_.encrypt = encrypt;
  }

 private:
  using Until = std::optional<Clock::time_point>;

  std::shared_ptr<Job> NewJob(JobKind kind, size_t size);
  uint64_t Enqueue(const std::shared_ptr<Job>& job, std::vector<Task> tasks, bool write);
  uint64_t PutJob(std::vector<PutRequest> requests, bool pollable);
  uint64_t GetJob(std::vector<GetRequest> requests, bool pollable);
  uint64_t ContainsJob(std::vector<std::string> keys, bool pollable);
  void WorkerLoop(int slot, bool writer);
  void Run(ChunkIoContext* ctx, const Task& task);
  void RunGet(ChunkIoContext* ctx, Job* job, size_t i);
  void RunPut(ChunkIoContext* ctx, Job* job, size_t i);
  void RunContains(Job* job, size_t i);
  void FinishKeys(Job* job, size_t n);
  // Marks the job completed (once) and lists it for Poll. REQUIRES: mu_.
  void CompleteLocked(Job* job);
  void Complete(Job* job);
  // Abandons every unfinished job whose deadline has passed and drops the
  // queued tasks of abandoned jobs. REQUIRES: mu_.
  void ExpireDue();
  // Earliest deadline of a job still running; max() if none. REQUIRES: mu_.
  Clock::time_point NextDeadline() const;
  // Waits on done_cv_ until ready() or `until` passes, expiring jobs as
  // their deadlines pass meanwhile; false on timeout. REQUIRES: lock on mu_.
  template <class Ready>
  bool WaitExpiring(std::unique_lock<std::mutex>& lock, const Until& until, Ready ready);
  JobResult Collect(const std::shared_ptr<Job>& job);
  void RefreshGauges() const;

  Env* const env_;
  const StoreOptions options_;
  const std::string ns_dir_;
  const bool usable_;
  const bool use_uring_;
  ChunkIoOptions io_opts_;
  StoreMetrics metrics_;
  LookupCache lookup_cache_;
  // Per worker: when its current chunk operation started (0: idle).
  std::unique_ptr<std::atomic<int64_t>[]> op_start_ns_;
  int n_workers_ = 0;

  std::mutex mu_;
  std::condition_variable read_cv_;   // read workers wait here
  std::condition_variable write_cv_;  // write workers (who also take reads) wait here
  std::condition_variable done_cv_;   // job completions, worker exits
  std::deque<Task> read_queue_;       // GUARDED_BY(mu_)
  std::deque<Task> write_queue_;      // GUARDED_BY(mu_)
  uint64_t queued_write_bytes_ = 0;   // GUARDED_BY(mu_)
  // By id, which is also deadline order (ids and deadlines both grow with
  // submission time).
  std::map<uint64_t, std::shared_ptr<Job>> jobs_;  // GUARDED_BY(mu_)
  std::deque<uint64_t> finished_;                  // GUARDED_BY(mu_)
  size_t pollable_pending_ = 0;       // GUARDED_BY(mu_): pollable jobs not yet collected
  uint64_t next_job_id_ = 1;          // GUARDED_BY(mu_)
  bool closing_ = false;              // GUARDED_BY(mu_)
  int live_workers_ = 0;              // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;  // GUARDED_BY(mu_)
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_STORE_IMPL_H_
