// StoreImpl: the Store behind Store::Open. Owns the worker threads, the two
// bounded queues (reads and lookups before writes), the job table and the
// jobs' deadlines. Shared with its workers (enable_shared_from_this): a
// worker blocked in the filesystem when Close() gives up on it keeps the
// internals alive until its call returns.
#ifndef KVTIER_SRC_STORE_STORE_IMPL_H_
#define KVTIER_SRC_STORE_STORE_IMPL_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "io/io_choice.h"
#include "kvtier/store.h"
#include "store/chunk_io.h"
#include "store/job.h"
#include "store/leaf_dirs.h"
#include "store/lookup_cache.h"
#include "store/store_metrics.h"
#include "util/mutex.h"

namespace kvtier {

// What Store::Open worked out before the store starts: the options as
// given, the namespace it prepared and what it found about the filesystem.
struct StoreImplParams {
  Env* env = nullptr;  // never null here: Open resolved the default
  StoreOptions options;
  std::string ns_dir;
  Fingerprint fingerprint;  // the namespace's (with a key id when authenticated)
  uint64_t writer_id = 0;   // names this store's temp files
  // False when the namespace's fingerprint.json holds another fingerprint:
  // every job then fails (NamespaceState::kConflict).
  bool usable = true;
  IoChoice io;
  bool memory_fs = false;  // tmpfs/ramfs: cannot stall, so loads are not staged
  // An authenticated namespace's keys (options.auth_key_file); null: plain.
  std::shared_ptr<const NamespaceKeys> keys;
};

class StoreImpl final : public Store, public std::enable_shared_from_this<StoreImpl> {
 public:
  explicit StoreImpl(StoreImplParams params);
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
  bool load_direct_io() const override { return io_opts_.load_direct; }
  bool store_direct_io() const override { return io_opts_.store_direct; }
  bool usable() const override { return usable_; }
  void Close() override EXCLUDES(mu_);

  StoreMetrics* metrics() { return &metrics_; }

 private:
  using Until = std::optional<Clock::time_point>;

  std::shared_ptr<Job> NewJob(JobKind kind, size_t size);
  uint64_t Enqueue(const std::shared_ptr<Job>& job, std::vector<Task> tasks, bool write)
      EXCLUDES(mu_);
  uint64_t PutJob(std::vector<PutRequest> requests, bool pollable) EXCLUDES(mu_);
  uint64_t GetJob(std::vector<GetRequest> requests, bool pollable);
  uint64_t ContainsJob(std::vector<std::string> keys, bool pollable);
  void WorkerLoop(int slot, bool writer) EXCLUDES(mu_);
  void Run(ChunkIoContext* ctx, const Task& task);
  void RunGet(ChunkIoContext* ctx, Job* job, size_t i);
  void RunPut(ChunkIoContext* ctx, Job* job, size_t i);
  void RunContains(Job* job, size_t i);
  void FinishKeys(Job* job, size_t n) EXCLUDES(mu_);
  // Marks the job completed (once) and lists it for Poll.
  void CompleteLocked(Job* job) REQUIRES(mu_);
  void Complete(Job* job) EXCLUDES(mu_);
  // Abandons every unfinished job whose deadline has passed and drops the
  // queued tasks of abandoned jobs.
  void ExpireDue() REQUIRES(mu_);
  // Earliest deadline of a job still running; max() if none.
  Clock::time_point NextDeadline() const REQUIRES(mu_);
  // Waits on done_cv_ until ready() or `until` passes, expiring jobs as
  // their deadlines pass meanwhile; false on timeout.
  template <class Ready>
  bool WaitExpiring(const Until& until, Ready ready) REQUIRES(mu_);
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
  LeafDirs leaf_dirs_;  // lookups and loads name chunks through held leaf handles
  LeafEnv leaf_env_;    // env_ with chunk opens through leaf_dirs_
  // Per worker: when its current chunk operation started (0: idle).
  std::unique_ptr<std::atomic<int64_t>[]> op_start_ns_;
  int n_workers_ = 0;

  Mutex mu_;
  CondVar read_cv_;   // read workers wait here
  CondVar write_cv_;  // write workers (who take reads too when awake) wait here
  CondVar done_cv_;   // job completions, worker exits
  std::deque<Task> read_queue_ GUARDED_BY(mu_);
  std::deque<Task> write_queue_ GUARDED_BY(mu_);
  uint64_t queued_write_bytes_ GUARDED_BY(mu_) = 0;
  // By id, which is also deadline order (ids and deadlines both grow with
  // submission time).
  std::map<uint64_t, std::shared_ptr<Job>> jobs_ GUARDED_BY(mu_);
  std::deque<uint64_t> finished_ GUARDED_BY(mu_);
  size_t pollable_pending_ GUARDED_BY(mu_) = 0;  // pollable jobs not yet collected
  uint64_t next_job_id_ GUARDED_BY(mu_) = 1;
  bool closing_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;  // the closing caller has joined the workers
  int live_workers_ GUARDED_BY(mu_) = 0;
  std::vector<std::thread> workers_ GUARDED_BY(mu_);
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_STORE_IMPL_H_
