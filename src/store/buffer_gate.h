// BufferGate: who may still touch the caller's buffers of one job.
//
// A read blocked in the kernel cannot be cancelled, and once a job passes its
// deadline the caller takes its buffers back (vLLM hands the CPU slot to
// another request). So every access to a job's buffers from a worker (a
// copy out of a staging buffer, a read straight into the buffer on a memory
// filesystem, hashing a store's source bytes) happens between Enter() and
// Leave(), and none starts once the gate is closed. Close() never waits:
// when workers are inside, the last one out runs the drained callback, which
// completes the job. Inside the gate a worker copies or hashes memory, or,
// on a memory filesystem (tmpfs/ramfs), runs the whole read, a page-cache
// copy; none of these can stall on a network, and the caller never waits
// for them anyway.
//
// Thread-safe.
#ifndef KVTIER_SRC_STORE_BUFFER_GATE_H_
#define KVTIER_SRC_STORE_BUFFER_GATE_H_

#include <atomic>
#include <functional>
#include <utility>

#include "util/mutex.h"

namespace kvtier {

class BufferGate {
 public:
  BufferGate() = default;
  BufferGate(const BufferGate&) = delete;
  BufferGate& operator=(const BufferGate&) = delete;

  // Runs (on the leaving worker's thread, no lock held) when the last worker
  // leaves a closed gate. Set before the job is shared.
  void set_on_drained(std::function<void()> fn) { on_drained_ = std::move(fn); }

  // False once closed: the buffers are the caller's again.
  bool Enter() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (closed_) return false;
    ++inside_;
    return true;
  }

  void Leave() EXCLUDES(mu_) {
    bool drained = false;
    {
      MutexLock lock(&mu_);
      drained = --inside_ == 0 && closed_;
    }
    if (drained && on_drained_) on_drained_();
  }

  // Closes the gate. True when no worker is inside, so the buffers are free
  // now; false when the drained callback will say so later.
  bool Close() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    closed_ = true;
    closed_flag_.store(true, std::memory_order_release);
    return inside_ == 0;
  }

  // A lock-free hint for skipping work; Enter() is the authority.
  bool closed() const { return closed_flag_.load(std::memory_order_acquire); }

 private:
  Mutex mu_;
  int inside_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;
  std::atomic<bool> closed_flag_{false};
  std::function<void()> on_drained_;
};

// Enter()/Leave() as a scope; ok() is false when the gate was closed.
class GateScope {
 public:
  explicit GateScope(BufferGate* gate) : gate_(gate), ok_(gate == nullptr || gate->Enter()) {}
  ~GateScope() {
    if (gate_ != nullptr && ok_) gate_->Leave();
  }
  GateScope(const GateScope&) = delete;
  GateScope& operator=(const GateScope&) = delete;
  bool ok() const { return ok_; }

 private:
  BufferGate* gate_;
  bool ok_;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_BUFFER_GATE_H_
