// IoBackend: how a worker thread moves bytes between a File and memory.
// Two implementations: synchronous preadv/pwritev on the calling worker (the
// portable fallback and test baseline; the store's "threadpool" backend) and
// io_uring, where the worker keeps up to a queue depth of transfers in
// flight in its own ring: it submits, reaps whichever completes first, hands
// it to the caller and refills the ring, so the device never waits for a
// whole batch. The store owns one backend per worker thread; a backend is
// not safe for concurrent use.
#ifndef KVTIER_SRC_IO_IO_BACKEND_H_
#define KVTIER_SRC_IO_IO_BACKEND_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "kvtier/env.h"
#include "kvtier/status.h"

struct io_uring;

namespace kvtier {

// Transfers one io_uring worker keeps in flight (the ring's size).
inline constexpr unsigned kUringQueueDepth = 8;

struct IoOp {
  File* file = nullptr;
  bool write = false;
  uint64_t offset = 0;
  const struct iovec* iov = nullptr;
  int iovcnt = 0;
  // Filled in by Execute: bytes moved (reads stop early at end of file).
  size_t transferred = 0;
  Status status;
};

// Called with the index of each op as it completes (in any order).
using IoDoneFn = std::function<void(size_t index)>;

class IoBackend {
 public:
  virtual ~IoBackend() = default;
  // Performs every op and returns when all have completed, with none left
  // queued or in flight (the iovecs and buffers are the caller's again).
  // `on_done`, if set, runs on the calling thread as each op finishes, so
  // the caller can work on finished ops (checksum them) while later ones
  // are in flight.
  virtual void Execute(IoOp* ops, size_t n, const IoDoneFn* on_done) = 0;
};

std::unique_ptr<IoBackend> NewSyncBackend();

// Fails with NotSupported when the build lacks liburing or the kernel (or a
// seccomp policy) refuses io_uring. `submit` replaces io_uring_submit; only
// tests set it, to make the ring refuse work.
using UringSubmitFn = int (*)(struct io_uring* ring);
Status NewUringBackend(unsigned queue_depth, std::unique_ptr<IoBackend>* out,
                       UringSubmitFn submit = nullptr);

}  // namespace kvtier

#endif  // KVTIER_SRC_IO_IO_BACKEND_H_
