// io_uring backend. Each worker owns a ring; Execute() queues every op of the
// batch, submits once and reaps. A short transfer (end of file, or a partial
// write the kernel is allowed to return) is finished synchronously through
// the File, which loops until done: rare, and keeps this file small.
#include "io/io_backend.h"

#ifdef KVTIER_HAVE_URING
#include <liburing.h>

#include <cerrno>
#include <vector>
#endif

namespace kvtier {

#ifdef KVTIER_HAVE_URING
namespace {

class UringBackend final : public IoBackend {
 public:
  explicit UringBackend(unsigned depth) : depth_(depth) {}
  ~UringBackend() override { io_uring_queue_exit(&ring_); }

  Status Init() {
    int rc = io_uring_queue_init(depth_, &ring_, 0);
    if (rc < 0) return Status::NotSupported("io_uring_queue_init", -rc);
    return Status::OK();
  }

  void Execute(IoOp* ops, size_t n, const IoDoneFn* on_done) override {
    auto done_fn = [&](IoOp* op) {
      if (on_done != nullptr) (*on_done)(static_cast<size_t>(op - ops));
    };
    size_t next = 0;
    while (next < n) {
      // Ops without a kernel descriptor (a test Env) run synchronously.
      size_t queued = 0;
      size_t start = next;
      while (next < n && queued < depth_) {
        IoOp& op = ops[next];
        int fd = op.file->NativeHandle();
        if (fd < 0) {
          RunSync(&op);
          done_fn(&op);
        } else {
          io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
          if (op.write) {
            io_uring_prep_writev(sqe, fd, op.iov, static_cast<unsigned>(op.iovcnt), op.offset);
          } else {
            io_uring_prep_readv(sqe, fd, op.iov, static_cast<unsigned>(op.iovcnt), op.offset);
          }
          io_uring_sqe_set_data(sqe, &op);
          op.status = Status::IOError("io_uring op not completed", EIO);
          op.transferred = 0;
          ++queued;
        }
        ++next;
      }
      if (queued == 0) continue;
      int rc = io_uring_submit_and_wait(&ring_, static_cast<unsigned>(queued));
      if (rc < 0) {
        // The ring itself failed; fall back for this batch.
        for (size_t i = start; i < next; ++i) {
          if (ops[i].file->NativeHandle() >= 0) {
            RunSync(&ops[i]);
            done_fn(&ops[i]);
          }
        }
        continue;
      }
      for (size_t done = 0; done < queued;) {
        io_uring_cqe* cqe = nullptr;
        rc = io_uring_wait_cqe(&ring_, &cqe);
        if (rc == -EINTR) continue;
        if (rc < 0) break;
        auto* op = static_cast<IoOp*>(io_uring_cqe_get_data(cqe));
        int res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        ++done;
        Finish(op, res);
        done_fn(op);
      }
    }
  }

  const char* name() const override { return "io_uring"; }

 private:
  static size_t Total(const IoOp& op) {
    size_t total = 0;
    for (int i = 0; i < op.iovcnt; ++i) total += op.iov[i].iov_len;
    return total;
  }

  static void RunSync(IoOp* op) {
    if (op->write) {
      op->status = op->file->WriteV(op->offset, op->iov, op->iovcnt);
      op->transferred = op->status.ok() ? Total(*op) : 0;
    } else {
      op->status = op->file->ReadV(op->offset, op->iov, op->iovcnt, &op->transferred);
    }
  }

  // Completes an op from its CQE result, resuming a short transfer.
  static void Finish(IoOp* op, int res) {
    if (res < 0) {
      op->status = PosixError(op->write ? "io_uring write" : "io_uring read", -res);
      op->transferred = 0;
      return;
    }
    size_t total = Total(*op);
    size_t got = static_cast<size_t>(res);
    if (got == total || (!op->write && got == 0)) {
      op->transferred = got;
      op->status = Status::OK();
      return;
    }
    // Resume after `got` bytes with a trimmed copy of the iovecs.
    std::vector<struct iovec> rest(op->iov, op->iov + op->iovcnt);
    size_t skip = got;
    size_t first = 0;
    while (skip > 0 && skip >= rest[first].iov_len) skip -= rest[first++].iov_len;
    rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + skip;
    rest[first].iov_len -= skip;
    IoOp tail;
    tail.file = op->file;
    tail.write = op->write;
    tail.offset = op->offset + got;
    tail.iov = rest.data() + first;
    tail.iovcnt = static_cast<int>(rest.size() - first);
    RunSync(&tail);
    op->status = tail.status;
    op->transferred = got + tail.transferred;
  }

  unsigned depth_;
  io_uring ring_{};
};

}  // namespace

Status NewUringBackend(unsigned queue_depth, std::unique_ptr<IoBackend>* out) {
  auto backend = std::make_unique<UringBackend>(queue_depth == 0 ? 8 : queue_depth);
  Status s = backend->Init();
  if (!s.ok()) return s;
  *out = std::move(backend);
  return Status::OK();
}

#else

Status NewUringBackend(unsigned /*queue_depth*/, std::unique_ptr<IoBackend>* /*out*/) {
  return Status::NotSupported("built without liburing");
}

#endif

}  // namespace kvtier
