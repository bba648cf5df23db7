// IoBackend: how a worker thread moves bytes between a File and memory.
// Two implementations: "threadpool" (synchronous preadv/pwritev on the calling
// worker; the portable fallback and test baseline) and "io_uring" (the
// worker submits a batch of transfers to its own ring and reaps them, so one
// thread keeps several transfers in flight). The store owns one backend per
// worker thread; a backend is not safe for concurrent use.
#ifndef KVTIER_SRC_IO_IO_BACKEND_H_
#define KVTIER_SRC_IO_IO_BACKEND_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "kvtier/env.h"
#include "kvtier/status.h"

namespace kvtier {

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
  // Performs every op and returns when all have completed. `on_done`, if
  // set, runs on the calling thread as each op finishes, so the caller can
  // work on finished ops (checksum them) while later ones are in flight.
  virtual void Execute(IoOp* ops, size_t n, const IoDoneFn* on_done) = 0;
  virtual const char* name() const = 0;
};

std::unique_ptr<IoBackend> NewSyncBackend();

// Fails with NotSupported when the build lacks liburing or the kernel (or a
// seccomp policy) refuses io_uring.
Status NewUringBackend(unsigned queue_depth, std::unique_ptr<IoBackend>* out);

}  // namespace kvtier

#endif  // KVTIER_SRC_IO_IO_BACKEND_H_
