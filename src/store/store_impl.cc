#include "store/store_impl.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <span>
#include <vector>

#include "crypto/chunk_cipher.h"
#include "layout/layout.h"

namespace kvtier {

namespace {

// A large batch is cut into tasks of this many keys, which keep every read
// worker busy; a smaller one is spread over up to kContainsSpread tasks.
constexpr size_t kContainsPerTask = 64;
// A batch is spread over up to this many tasks, so up to this many lookups
// are in flight for it: on a network filesystem each key is a round trip.
// The bound is what a FUSE client serves at once, with room: MooseFS's
// mfsmount answers at most 10 requests at a time (libfuse's default worker
// cap): at 1 ms per direction, 750-1,600 lookups/s from 4 threads and at
// most 1,900-3,200 from 16 to 128 in three loaded runs
// (bench/dfs_metadata_sweep.sh). A cold 196-key prefix took a median 576 ms
// over 4 tasks, 425 ms over 8 and 274 ms over 16 (380 vs 234 ms in a second
// run), for 1-5% more lookups per key: walks racing through the same
// expired directory entries each send their own lookup.
constexpr size_t kContainsSpread = 16;
// Leaf directory handles (store/leaf_dirs.h): how long one is reused, which
// bounds how late a chunk stored into a re-created leaf is seen, and how many
// are held (one descriptor each, and never more than an eighth of the
// process's limit): the 256 fan-out parents (where that leaves at least as
// many for leaves: a descriptor limit of 4,096 or more), the rest leaves.
// With a limit of 34,816 or more, 4,096 leaves: an SGLang prefetch of 20
// prefixes of 196 pages (3,920 leaves) finds the leaves its existence check
// opened still held when it loads.
constexpr int64_t kLeafHandleTtlNs = 10LL * 1000 * 1000 * 1000;
constexpr size_t kMaxLeafParents = 256;
constexpr size_t kMaxLeafHandles = 4096 + kMaxLeafParents;
static_assert(kMaxKeyBytes == kMaxKeyLength && kMaxPayloadBytes == kMaxChunkBytes,
              "the public limits are the format's");
// How long Close() waits for workers once every job has completed: enough
// for one between tasks to notice, far less than a stalled call.
constexpr auto kCloseGrace = std::chrono::milliseconds(100);

// When a wait of timeout_ns ends; none for no limit: a negative timeout, or
// one of 30 years or more (adding INT64_MAX ns to the clock would overflow).
std::optional<Clock::time_point> Deadline(int64_t timeout_ns) {
  constexpr int64_t kNoLimitNs = 1'000'000'000'000'000'000;
  if (timeout_ns < 0 || timeout_ns >= kNoLimitNs) return std::nullopt;
  return Clock::now() + std::chrono::nanoseconds(timeout_ns);
}

void SetOutcome(Job* job, size_t i, KeyOutcome outcome) {
  job->outcome[i].store(static_cast<uint8_t>(outcome), std::memory_order_relaxed);
}

const void* DataOf(const PutRequest& r) { return r.data; }
const void* DataOf(const GetRequest& r) { return r.buf; }

// A request's pieces, when it has them, must be a payload: no data/buf
// beside them, none null, at most kMaxPayloadPieces, adding up to len.
template <class Request>
bool PiecesValid(const Request& r) {
  if (r.pieces.empty()) return true;
  if (DataOf(r) != nullptr || r.pieces.size() > kMaxPayloadPieces) return false;
  uint64_t total = 0;
  for (const auto& p : r.pieces) {
    if (p.data == nullptr && p.len > 0) return false;
    if (__builtin_add_overflow(total, p.len, &total)) return false;
  }
  return total == r.len;
}

// The request's payload buffers as iovecs: its one buffer, or its pieces
// (empty ones left out), listed in *many.
template <class Request>
std::span<const struct iovec> Buffers(const Request& r, struct iovec* one,
                                      std::vector<struct iovec>* many) {
  if (r.pieces.empty()) {
    *one = iovec{const_cast<void*>(DataOf(r)), r.len};
    return {one, 1};
  }
  many->clear();
  for (const auto& p : r.pieces) {
    if (p.len > 0)
      many->push_back(iovec{const_cast<void*>(static_cast<const void*>(p.data)), p.len});
  }
  return *many;
}

// A load's or lookup's failed Status as what the caller is told.
KeyOutcome FailedOutcome(const Status& s, VerifyError why) {
  if (s.IsNotFound()) return KeyOutcome::kMiss;
  if (s.IsCorruption()) {
    return why == VerifyError::kAuth ? KeyOutcome::kAuthFailed : KeyOutcome::kCorrupt;
  }
  return KeyOutcome::kIoError;
}

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

}  // namespace

StoreImpl::StoreImpl(StoreImplParams params)
    : env_(params.env),
      options_(std::move(params.options)),
      ns_dir_(std::move(params.ns_dir)),
      usable_(params.usable),
      use_uring_(params.io.load_uring),
      lookup_cache_(options_.lookup_cache_ns, options_.lookup_cache_entries),
      leaf_dirs_(env_, kLeafHandleTtlNs, kMaxLeafHandles, kMaxLeafParents),
      leaf_env_(env_, &leaf_dirs_, ns_dir_) {
  const IoChoice& io = params.io;
  const Fingerprint& fp = params.fingerprint;
  io_opts_.load_direct = io.load_direct;
  io_opts_.store_direct = io.store_direct;
  io_opts_.verify = options_.verify;
  io_opts_.durable = options_.durable;
  io_opts_.remove_corrupt = options_.remove_corrupt;
  const auto blocks = [](size_t n) {
    return std::max<size_t>(kBlockSize, n / kBlockSize * kBlockSize);
  };
  io_opts_.load_segment_bytes = blocks(io.load_segment_bytes);
  io_opts_.store_segment_bytes = blocks(io.store_segment_bytes);
  io_opts_.pipelined = io.load_uring;
  io_opts_.memory_fs = params.memory_fs;
  io_opts_.staged = options_.io_timeout_ns > 0 && !params.memory_fs;
  io_opts_.fingerprint = Hash128{fp.digest_lo(), fp.digest_hi()};
  io_opts_.writer_id = params.writer_id;
  io_opts_.touch_interval_ns = options_.touch_interval_ns;
  io_opts_.perms = options_.perms;
  io_opts_.keys = std::move(params.keys);
  io_opts_.encrypt = options_.encrypt;
  if (io_opts_.keys != nullptr && !io_opts_.encrypt) io_opts_.mac_alg = FasterMacAlgorithm();
}

StoreImpl::~StoreImpl() = default;  // Close() ran: the handle calls it, workers hold a reference

void StoreImpl::Start() {
  int readers = std::max(1, options_.read_threads);
  int writers = std::max(1, options_.write_threads);
  n_workers_ = readers + writers;
  op_start_ns_ = std::make_unique<std::atomic<int64_t>[]>(n_workers_);
  MutexLock lock(&mu_);
  for (int i = 0; i < n_workers_; ++i) {
    op_start_ns_[i].store(0, std::memory_order_relaxed);
    ++live_workers_;
    metrics_.workers->Add(1);
    workers_.emplace_back(
        [self = shared_from_this(), i, writer = i >= readers] { self->WorkerLoop(i, writer); });
  }
}

void StoreImpl::Close() {
  MutexLock lock(&mu_);
  if (closing_) {
    // Another caller is closing: return once it has joined the workers, as
    // it will itself (the handle's destructor closes again, too).
    while (!closed_) done_cv_.Wait(&mu_);
    return;
  }
  closing_ = true;
  read_cv_.SignalAll();
  write_cv_.SignalAll();
  // Workers drain the queues; every job completes by its last key or at its
  // deadline.
  WaitExpiring(std::nullopt, [&]() REQUIRES(mu_) {
    for (const auto& [id, job] : jobs_) {
      if (!job->completed.load(std::memory_order_acquire)) return false;
    }
    return true;
  });
  std::vector<std::thread> workers = std::move(workers_);
  workers_.clear();
  if (options_.io_timeout_ns > 0) {
    const auto until = Clock::now() + kCloseGrace;
    while (live_workers_ > 0 && done_cv_.WaitUntil(&mu_, until)) {
    }
  } else {
    while (live_workers_ > 0) done_cv_.Wait(&mu_);
  }
  const bool all_exited = live_workers_ == 0;
  lock.Unlock();
  for (std::thread& t : workers) {
    // A worker still out is blocked in the filesystem on a job that has
    // completed (its gate is closed): leave it; its reference keeps what it
    // uses alive.
    if (all_exited) {
      t.join();
    } else {
      t.detach();
    }
  }
  lock.Lock();
  closed_ = true;
  done_cv_.SignalAll();
}

std::shared_ptr<Job> StoreImpl::NewJob(JobKind kind, size_t size) {
  auto job = std::make_shared<Job>();
  job->kind = kind;
  job->size = size;
  job->outcome = std::make_unique<std::atomic<uint8_t>[]>(size);
  for (size_t i = 0; i < size; ++i) job->outcome[i].store(kKeyPending, std::memory_order_relaxed);
  // The gate closes only at the deadline, while the job is listed; workers
  // inside it hold the job and keep this store alive.
  job->gate.set_on_drained([this, raw = job.get()] { Complete(raw); });
  return job;
}

uint64_t StoreImpl::Enqueue(const std::shared_ptr<Job>& job, std::vector<Task> tasks, bool write) {
  MutexLock lock(&mu_);
  if (closing_ || jobs_.size() >= options_.max_pending_jobs) {
    metrics_.jobs_rejected->Add();
    if (write) {
      for (const Task& t : tasks) queued_write_bytes_ -= job->puts[t.begin].len;
    }
    return 0;
  }
  job->id = next_job_id_++;
  if (options_.io_timeout_ns > 0) {
    if (auto d = Deadline(options_.io_timeout_ns)) job->deadline = *d;
  }
  jobs_[job->id] = job;
  if (job->pollable) ++pollable_pending_;
  metrics_.pending_jobs->Set(static_cast<int64_t>(jobs_.size()));
  size_t unqueued = job->size;
  for (Task& t : tasks) unqueued -= t.end - t.begin;
  job->remaining.store(job->size, std::memory_order_relaxed);
  if (job->size == 0) CompleteLocked(job.get());
  auto& queue = write ? write_queue_ : read_queue_;
  const size_t queued = tasks.size();
  for (Task& t : tasks) queue.push_back(std::move(t));
  metrics_.read_queue_depth->Set(static_cast<int64_t>(read_queue_.size()));
  metrics_.write_queue_depth->Set(static_cast<int64_t>(write_queue_.size()));
  metrics_.write_queue_bytes->Set(static_cast<int64_t>(queued_write_bytes_));
  lock.Unlock();
  // Wake only as many workers as there are tasks: on a small machine with
  // 32 workers, waking all of them for one chunk costs more than the chunk.
  // Reads wake only the readers: writers take queued reads before writes
  // when they look for work, but one asleep stays so through a load unless
  // a store wakes it. Waking them too was measured (bench/RESULTS.md,
  // "Where the tier's load-20 time goes"): on 2 cores it doubled the CPU per
  // GB and cut a single prefix load from 0.96-1.02x of vLLM's built-in
  // tier to 0.67-0.70x; on 16 cores it gained nothing.
  CondVar& cv = write ? write_cv_ : read_cv_;
  if (queued == 1) {
    cv.Signal();
  } else if (queued > 1) {
    cv.SignalAll();
  }
  if (job->size == 0) done_cv_.SignalAll();
  // Keys that were dropped before queueing count as finished (result false).
  if (unqueued > 0) FinishKeys(job.get(), unqueued);
  return job->id;
}

uint64_t StoreImpl::SubmitPut(std::vector<PutRequest> requests) {
  return PutJob(std::move(requests), true);
}

uint64_t StoreImpl::SubmitGet(std::vector<GetRequest> requests) {
  return GetJob(std::move(requests), true);
}

uint64_t StoreImpl::SubmitContains(std::vector<std::string> keys) {
  return ContainsJob(std::move(keys), true);
}

bool StoreImpl::Put(std::string_view key, const void* data, size_t len) {
  std::vector<PutRequest> reqs(1);
  reqs[0] = PutRequest{std::string(key), data, len};
  uint64_t id = PutJob(std::move(reqs), false);
  JobResult r;
  return id != 0 && Wait(id, &r, -1) && r.all_ok();
}

bool StoreImpl::Get(std::string_view key, void* buf, size_t len) {
  std::vector<GetRequest> reqs(1);
  reqs[0] = GetRequest{std::string(key), buf, len};
  uint64_t id = GetJob(std::move(reqs), false);
  JobResult r;
  return id != 0 && Wait(id, &r, -1) && r.all_ok();
}

std::vector<bool> StoreImpl::Contains(const std::vector<std::string>& keys) {
  uint64_t id = ContainsJob(keys, false);
  JobResult r;
  std::vector<bool> found(keys.size(), false);
  if (id == 0 || !Wait(id, &r, -1)) return found;
  for (size_t i = 0; i < found.size(); ++i) found[i] = r.ok(i);
  return found;
}

uint64_t StoreImpl::PutJob(std::vector<PutRequest> requests, bool pollable) {
  auto job = NewJob(JobKind::kPut, requests.size());
  job->pollable = pollable;
  job->puts = std::move(requests);
  std::vector<Task> tasks;
  {
    // Admission against the write budget happens here, on the caller's
    // thread: what does not fit is dropped now, never buffered.
    MutexLock lock(&mu_);
    for (size_t i = 0; i < job->size; ++i) {
      metrics_.puts->Add();
      uint64_t len = job->puts[i].len;
      // The format cannot hold these: refused here, never written (a
      // longer key would make a file every load rejects).
      if (job->puts[i].key.size() > kMaxKeyBytes || len > kMaxPayloadBytes ||
          !PiecesValid(job->puts[i])) {
        metrics_.puts_invalid.at(job->puts[i].key.size() > kMaxKeyBytes ? 0 : 1)->Add();
        SetOutcome(job.get(), i, KeyOutcome::kInvalid);
        continue;
      }
      if (!usable_ || queued_write_bytes_ + len > options_.max_queued_write_bytes) {
        metrics_.puts_dropped->Add();
        SetOutcome(job.get(), i, KeyOutcome::kDropped);
        continue;
      }
      queued_write_bytes_ += len;
      tasks.push_back(Task{job, i, i + 1});
    }
  }
  return Enqueue(job, std::move(tasks), /*write=*/true);
}

uint64_t StoreImpl::GetJob(std::vector<GetRequest> requests, bool pollable) {
  auto job = NewJob(JobKind::kGet, requests.size());
  job->pollable = pollable;
  job->gets = std::move(requests);
  std::vector<Task> tasks;
  for (size_t i = 0; i < job->size; ++i) {
    if (!PiecesValid(job->gets[i])) {
      metrics_.gets->Add();
      SetOutcome(job.get(), i, KeyOutcome::kInvalid);
      continue;
    }
    tasks.push_back(Task{job, i, i + 1});
  }
  return Enqueue(job, std::move(tasks), /*write=*/false);
}

uint64_t StoreImpl::ContainsJob(std::vector<std::string> keys, bool pollable) {
  auto job = NewJob(JobKind::kContains, keys.size());
  job->pollable = pollable;
  job->keys = std::move(keys);
  std::vector<Task> tasks;
  const size_t per_task =
      std::clamp<size_t>((job->size + kContainsSpread - 1) / kContainsSpread, 1, kContainsPerTask);
  for (size_t i = 0; i < job->size; i += per_task) {
    tasks.push_back(Task{job, i, std::min(job->size, i + per_task)});
  }
  return Enqueue(job, std::move(tasks), /*write=*/false);
}

void StoreImpl::WorkerLoop(int slot, bool writer) {
  // Named so that top -H, perf and gdb tell the two pools apart.
  pthread_setname_np(pthread_self(), writer ? "kvtier-write" : "kvtier-read");
  {
    ChunkIoContext ctx;
    if (use_uring_ && !NewUringBackend(kUringQueueDepth, &ctx.backend).ok()) ctx.backend.reset();
    if (ctx.backend == nullptr) ctx.backend = NewSyncBackend();
    for (;;) {
      Task task;
      bool was_write = false;
      {
        MutexLock lock(&mu_);
        // Readers serve reads only; writers serve reads first, then writes
        // (but a load does not wake them: Enqueue says why).
        while (!closing_ && read_queue_.empty() && !(writer && !write_queue_.empty())) {
          (writer ? write_cv_ : read_cv_).Wait(&mu_);
        }
        if (!read_queue_.empty()) {
          task = std::move(read_queue_.front());
          read_queue_.pop_front();
        } else if (writer && !write_queue_.empty()) {
          task = std::move(write_queue_.front());
          write_queue_.pop_front();
          was_write = true;
        } else {
          break;  // closing and nothing left for this worker
        }
        metrics_.read_queue_depth->Set(static_cast<int64_t>(read_queue_.size()));
        metrics_.write_queue_depth->Set(static_cast<int64_t>(write_queue_.size()));
      }
      op_start_ns_[slot].store(SteadyNanos(), std::memory_order_relaxed);
      Run(&ctx, task);
      op_start_ns_[slot].store(0, std::memory_order_relaxed);
      if (was_write) {
        MutexLock lock(&mu_);
        queued_write_bytes_ -= task.job->puts[task.begin].len;
        metrics_.write_queue_bytes->Set(static_cast<int64_t>(queued_write_bytes_));
      }
      FinishKeys(task.job.get(), task.end - task.begin);
    }
    metrics_.staging_bytes->Add(-static_cast<int64_t>(ctx.staging.capacity()));
  }
  // Last: Close() and tests read this as "no worker uses the Env any more".
  MutexLock lock(&mu_);
  --live_workers_;
  metrics_.workers->Add(-1);
  done_cv_.SignalAll();
}

void StoreImpl::Run(ChunkIoContext* ctx, const Task& task) {
  for (size_t i = task.begin; i < task.end; ++i) {
    // Past the deadline nobody waits for the rest of the task.
    if (task.job->gate.closed()) break;
    switch (task.job->kind) {
      case JobKind::kGet:
        RunGet(ctx, task.job.get(), i);
        break;
      case JobKind::kPut:
        RunPut(ctx, task.job.get(), i);
        break;
      case JobKind::kContains:
        RunContains(task.job.get(), i);
        break;
    }
  }
}

void StoreImpl::RunGet(ChunkIoContext* ctx, Job* job, size_t i) {
  const GetRequest& req = job->gets[i];
  metrics_.gets->Add();
  if (!usable_) {
    metrics_.get_misses->Add();
    SetOutcome(job, i, KeyOutcome::kMiss);
    return;
  }
  if (io_opts_.staged) {
    // Sized here rather than in ReadChunk so the gauge counts it while the
    // read may still be stuck.
    const size_t before = ctx->staging.capacity();
    ctx->staging.Reserve(std::max(kBlockSize, AlignUp(req.len, kBlockSize)));
    metrics_.staging_bytes->Add(static_cast<int64_t>(ctx->staging.capacity() - before));
  }
  uint64_t start = env_->MonotonicNanos();
  ReadOutcome outcome;
  struct iovec one;
  Status s = ReadChunk(&leaf_env_, ctx, io_opts_, LocateChunk(ns_dir_, req.key).path, req.key,
                       Buffers(req, &one, &ctx->bufs), req.len, &job->gate, &outcome);
  metrics_.get_latency->ObserveNanos(env_->MonotonicNanos() - start);
  if (outcome.touched) metrics_.touches->Add();
  if (job->gate.closed()) {
    // The job was reported without this key (timed out); whatever the
    // read found, it never reached the caller's buffer after that.
    metrics_.late_completions->Add();
    if (!s.IsCorruption()) return;
  } else {
    SetOutcome(job, i, s.ok() ? KeyOutcome::kOk : FailedOutcome(s, outcome.why));
  }
  if (s.ok()) {
    metrics_.get_hits->Add();
    metrics_.bytes_read->Add(req.len);
    return;
  }
  lookup_cache_.Erase(req.key);
  if (s.IsNotFound()) {
    metrics_.get_misses->Add();
  } else if (s.IsCorruption()) {
    metrics_.get_misses->Add();
    metrics_.verify_failures[static_cast<int>(outcome.why)]->Add();
    if (outcome.removed) metrics_.corrupt_removed->Add();
  } else {
    metrics_.get_errors->Add();
  }
}

void StoreImpl::RunPut(ChunkIoContext* ctx, Job* job, size_t i) {
  const PutRequest& req = job->puts[i];
  uint64_t start = env_->MonotonicNanos();
  WriteOutcome outcome;
  struct iovec one;
  Status s = WriteChunk(env_, ctx, io_opts_, LocateChunk(ns_dir_, req.key), req.key,
                        Buffers(req, &one, &ctx->bufs), req.len, &job->gate, &outcome);
  metrics_.put_latency->ObserveNanos(env_->MonotonicNanos() - start);
  if (outcome.touched) metrics_.touches->Add();
  if (!s.ok() && job->gate.closed()) {
    metrics_.late_completions->Add();  // not published (see WriteChunk): timed out
    lookup_cache_.Erase(req.key);
    return;
  }
  if (!s.ok()) {
    metrics_.put_errors->Add();
    lookup_cache_.Erase(req.key);
    // Corruption: a directory or device holds the chunk's name.
    SetOutcome(job, i, s.IsCorruption() ? KeyOutcome::kCorrupt : KeyOutcome::kIoError);
    return;
  }
  if (outcome.existed) {
    metrics_.puts_existing->Add();
  } else {
    metrics_.puts_stored->Add();
    metrics_.bytes_written->Add(req.len);
  }
  lookup_cache_.Set(req.key, true, env_->NowNanos());
  SetOutcome(job, i, KeyOutcome::kOk);
}

void StoreImpl::RunContains(Job* job, size_t i) {
  const std::string& key = job->keys[i];
  metrics_.lookups->Add();
  if (!usable_) {
    SetOutcome(job, i, KeyOutcome::kMiss);
    return;
  }
  int64_t now = env_->NowNanos();
  bool exists = false;
  if (lookup_cache_.Get(key, now, &exists)) {
    metrics_.lookup_cache_hits->Add();
  } else {
    uint64_t start = env_->MonotonicNanos();
    FileInfo info;
    Status s = leaf_dirs_.Stat(LocateChunk(ns_dir_, key), env_->MonotonicNanos(), &info);
    metrics_.lookup_latency->ObserveNanos(env_->MonotonicNanos() - start);
    exists = s.ok() && info.IsRegular();
    if (!s.ok() && !s.IsNotFound()) {
      metrics_.lookup_errors->Add();
      SetOutcome(job, i, KeyOutcome::kIoError);
      return;  // an error is not a verdict worth caching
    }
    lookup_cache_.Set(key, exists, now);
  }
  if (exists) metrics_.lookup_hits->Add();
  SetOutcome(job, i, exists ? KeyOutcome::kOk : KeyOutcome::kMiss);
}

void StoreImpl::FinishKeys(Job* job, size_t n) {
  if (job->remaining.fetch_sub(n, std::memory_order_acq_rel) != n) return;
  Complete(job);
}

void StoreImpl::CompleteLocked(Job* job) {
  if (job->completed.exchange(true, std::memory_order_acq_rel)) return;
  if (job->pollable) finished_.push_back(job->id);
}

void StoreImpl::Complete(Job* job) {
  {
    MutexLock lock(&mu_);
    CompleteLocked(job);
  }
  done_cv_.SignalAll();
}

void StoreImpl::ExpireDue() {
  if (options_.io_timeout_ns <= 0) return;
  const auto now = Clock::now();
  bool expired = false;
  for (auto& [id, job] : jobs_) {
    if (job->deadline > now) break;  // jobs_ is in deadline order
    if (job->completed.load(std::memory_order_acquire) || job->gate.closed()) continue;
    metrics_.jobs_timed_out->Add();
    metrics_.io_timeouts[static_cast<int>(job->kind)]->Add(
        job->remaining.load(std::memory_order_acquire));
    // Workers inside the gate are copying memory, not waiting on the
    // filesystem; the last one out completes the job.
    if (job->gate.Close()) CompleteLocked(job.get());
    expired = true;
  }
  if (!expired) return;
  // Nobody waits for the queued work of abandoned jobs: drop it, so that a
  // stalled filesystem cannot make the queues grow behind it.
  auto abandoned = [](const Task& t) { return t.job->gate.closed(); };
  for (const Task& t : write_queue_) {
    if (abandoned(t)) queued_write_bytes_ -= t.job->puts[t.begin].len;
  }
  std::erase_if(read_queue_, abandoned);
  std::erase_if(write_queue_, abandoned);
  metrics_.read_queue_depth->Set(static_cast<int64_t>(read_queue_.size()));
  metrics_.write_queue_depth->Set(static_cast<int64_t>(write_queue_.size()));
  metrics_.write_queue_bytes->Set(static_cast<int64_t>(queued_write_bytes_));
  done_cv_.SignalAll();
}

Clock::time_point StoreImpl::NextDeadline() const {
  if (options_.io_timeout_ns <= 0) return Clock::time_point::max();
  for (const auto& [id, job] : jobs_) {
    if (!job->completed.load(std::memory_order_acquire) && !job->gate.closed()) {
      return job->deadline;
    }
  }
  return Clock::time_point::max();
}

template <class Ready>
bool StoreImpl::WaitExpiring(const Until& until, Ready ready) {
  for (;;) {
    ExpireDue();
    if (ready()) return true;
    Clock::time_point wake = NextDeadline();
    if (until && *until < wake) wake = *until;
    if (wake == Clock::time_point::max()) {
      done_cv_.Wait(&mu_);
    } else if (!done_cv_.WaitUntil(&mu_, wake) && until && Clock::now() >= *until) {
      ExpireDue();
      return ready();
    }
  }
}

JobResult StoreImpl::Collect(const std::shared_ptr<Job>& job) {
  JobResult r;
  r.job_id = job->id;
  r.kind = job->kind;
  r.outcomes.resize(job->size);
  for (size_t i = 0; i < job->size; ++i) {
    const uint8_t o = job->outcome[i].load(std::memory_order_relaxed);
    // Only the deadline completes a job with keys unfinished.
    r.outcomes[i] = o == kKeyPending ? KeyOutcome::kTimedOut : static_cast<KeyOutcome>(o);
  }
  return r;
}

void StoreImpl::Poll(std::vector<JobResult>* results, size_t max_results) {
  std::vector<std::shared_ptr<Job>> done;
  bool none_left = false;
  {
    MutexLock lock(&mu_);
    ExpireDue();
    while (!finished_.empty() && done.size() < max_results) {
      auto it = jobs_.find(finished_.front());
      finished_.pop_front();
      if (it == jobs_.end()) continue;  // never: Wait drops what it collects from finished_
      done.push_back(std::move(it->second));
      jobs_.erase(it);
      --pollable_pending_;
    }
    none_left = !done.empty() && pollable_pending_ == 0;
    metrics_.pending_jobs->Set(static_cast<int64_t>(jobs_.size()));
  }
  // A WaitAny elsewhere may be waiting for jobs this call just took.
  if (none_left) done_cv_.SignalAll();
  for (const auto& job : done) results->push_back(Collect(job));
}

size_t StoreImpl::WaitAny(std::vector<JobResult>* results, size_t max_results, int64_t timeout_ns) {
  const size_t before = results->size();
  const auto until = Deadline(timeout_ns);
  while (max_results > 0) {
    Poll(results, max_results);
    if (results->size() > before) break;
    MutexLock lock(&mu_);
    // Wake for a finished job, or when none is left to finish: another
    // consumer may collect the last one first.
    auto ready = [&]() REQUIRES(mu_) { return !finished_.empty() || pollable_pending_ == 0; };
    if (!WaitExpiring(until, ready)) break;
    if (finished_.empty()) break;  // nothing left to wait for
  }
  return results->size() - before;
}

bool StoreImpl::Wait(uint64_t job_id, JobResult* result, int64_t timeout_ns) {
  const auto until = Deadline(timeout_ns);
  std::shared_ptr<Job> job;
  bool none_left = false;
  {
    MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return false;
    job = it->second;
    auto done = [&] { return job->completed.load(std::memory_order_acquire); };
    if (!WaitExpiring(until, done)) return false;
    // A Poll or WaitAny may have collected it while this call slept.
    if (jobs_.erase(job_id) == 0) return false;
    // Only pollable jobs are listed in finished_: the synchronous helpers'
    // jobs skip the scan.
    if (job->pollable) {
      none_left = --pollable_pending_ == 0;
      auto f = std::find(finished_.begin(), finished_.end(), job_id);
      if (f != finished_.end()) finished_.erase(f);
    }
    metrics_.pending_jobs->Set(static_cast<int64_t>(jobs_.size()));
  }
  if (none_left) done_cv_.SignalAll();
  *result = Collect(job);
  return true;
}

void StoreImpl::RefreshGauges() const {
  int64_t stalled = 0;
  if (options_.io_timeout_ns > 0 && op_start_ns_ != nullptr) {
    const int64_t now = SteadyNanos();
    for (int i = 0; i < n_workers_; ++i) {
      int64_t start = op_start_ns_[i].load(std::memory_order_relaxed);
      if (start != 0 && now - start > options_.io_timeout_ns) ++stalled;
    }
  }
  metrics_.stalled_workers->Set(stalled);
}

std::string StoreImpl::MetricsText() const {
  RefreshGauges();
  return metrics_.registry.RenderPrometheus();
}

std::map<std::string, double> StoreImpl::MetricsMap() const {
  RefreshGauges();
  auto m = metrics_.registry.Snapshot();
  m["load_direct_io"] = io_opts_.load_direct ? 1 : 0;
  m["store_direct_io"] = io_opts_.store_direct ? 1 : 0;
  m["io_uring"] = use_uring_ ? 1 : 0;
  m["staged_reads"] = io_opts_.staged ? 1 : 0;
  m["segment_bytes"] = static_cast<double>(io_opts_.load_segment_bytes);  // loads
  m["store_segment_bytes"] = static_cast<double>(io_opts_.store_segment_bytes);
  return m;
}

}  // namespace kvtier
