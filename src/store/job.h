// A submitted job and the unit of work the scheduler hands to workers.
#ifndef KVTIER_SRC_STORE_JOB_H_
#define KVTIER_SRC_STORE_JOB_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvtier/store.h"
#include "store/buffer_gate.h"

namespace kvtier {

using Clock = std::chrono::steady_clock;

inline constexpr uint8_t kKeyPending = 0xff;

struct Job {
  uint64_t id = 0;
  JobKind kind = JobKind::kGet;
  std::vector<PutRequest> puts;
  std::vector<GetRequest> gets;
  std::vector<std::string> keys;  // contains
  // One KeyOutcome per key, kKeyPending until a worker (or admission) sets
  // it; a key still pending when the job is collected was cut off by the
  // deadline. Bytes, not a vector: workers write neighbours concurrently.
  std::unique_ptr<std::atomic<uint8_t>[]> outcome;
  size_t size = 0;
  bool pollable = true;  // false for the synchronous helpers' jobs
  std::atomic<size_t> remaining{0};
  // Past it the job completes with its unfinished keys failed and `gate`
  // closes. Set once, under the store's lock, before the job is shared.
  Clock::time_point deadline = Clock::time_point::max();
  BufferGate gate;
  // Set exactly once, by the last key or by the deadline (after the gate
  // drained), whichever comes first.
  std::atomic<bool> completed{false};
};

// A slice [begin, end) of one job's keys.
struct Task {
  std::shared_ptr<Job> job;
  size_t begin = 0;
  size_t end = 0;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_JOB_H_
