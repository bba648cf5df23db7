// io_uring backend. Each worker owns a ring of `depth` entries and keeps it
// full: Execute queues ops until `depth` are in flight and submits them;
// then, while the device moves those, it hands the ones that already landed
// to the caller (on_done: the checksum), waits for the next completion and
// refills the ring at once. (It used to submit a batch and wait for all of
// it before anything was hashed, so the device idled through the slowest op
// of every batch and through the hashing.)
//
// Every path leaves the ring empty when Execute returns, because the ops'
// buffers are the caller's again then and the kernel must not touch them:
// - a failed transfer (a CQE with -errno) fails that op only;
// - a short transfer (end of file, or a partial write the kernel may
//   return) is finished synchronously through the File, which loops until
//   done: rare, and it keeps this file small;
// - when the ring refuses a submission, the entries still queued in it
//   cannot be taken back, so once everything in flight has completed the
//   ring is rebuilt (dropping them unsubmitted) and their ops run
//   synchronously;
// - ops on a File without a kernel descriptor (the fault-injection Env)
//   run synchronously where they come.
#include "io/io_backend.h"

#ifdef KVTIER_HAVE_URING
#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>
#endif

namespace kvtier {

#ifdef KVTIER_HAVE_URING
namespace {

class UringBackend final : public IoBackend {
 public:
  UringBackend(unsigned depth, UringSubmitFn submit)
      : depth_(depth), submit_(submit != nullptr ? submit : &io_uring_submit) {}
  ~UringBackend() override {
    if (ring_ok_) io_uring_queue_exit(&ring_);
  }

  Status Init() {
    int rc = io_uring_queue_init(depth_, &ring_, 0);
    if (rc < 0) return Status::NotSupported("io_uring_queue_init", -rc);
    ring_ok_ = true;
    return Status::OK();
  }

  void Execute(IoOp* ops, size_t n, const IoDoneFn* on_done) override {
    auto hand_over = [&] {
      if (on_done != nullptr) {
        for (IoOp* op : landed_) (*on_done)(static_cast<size_t>(op - ops));
      }
      landed_.clear();
    };
    size_t next = 0;
    for (;;) {
      while (next < n && in_flight_ + queued_.size() < depth_) {
        IoOp* op = &ops[next++];
        if (!Queue(op)) {
          RunSync(op);
          landed_.push_back(op);
          hand_over();
        }
      }
      Submit();
      hand_over();
      if (in_flight_ == 0 && queued_.empty() && next == n) return;
      if (in_flight_ > 0) Reap();
    }
  }

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

  // Puts the op in the submission queue; false if it must run synchronously.
  bool Queue(IoOp* op) {
    op->transferred = 0;
    const int fd = op->file->NativeHandle();
    io_uring_sqe* sqe = fd >= 0 && ring_ok_ ? io_uring_get_sqe(&ring_) : nullptr;
    if (sqe == nullptr) return false;
    const auto cnt = static_cast<unsigned>(op->iovcnt);
    if (op->write) {
      io_uring_prep_writev(sqe, fd, op->iov, cnt, op->offset);
    } else {
      io_uring_prep_readv(sqe, fd, op->iov, cnt, op->offset);
    }
    io_uring_sqe_set_data(sqe, op);
    op->status = Status::IOError("io_uring op not completed", EIO);
    queued_.push_back(op);
    return true;
  }

  // Hands every queued op to the kernel. A refusal the kernel calls
  // transient (EINTR, EAGAIN, EBUSY: out of resources until completions are
  // reaped) is retried a few times; past that the ring is given up on.
  void Submit() {
    int refusals = 0;
    while (!queued_.empty()) {
      int rc = submit_(&ring_);
      if (rc > 0) {
        const size_t k = std::min(static_cast<size_t>(rc), queued_.size());
        queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(k));
        in_flight_ += k;
        refusals = 0;
        continue;
      }
      const bool transient = rc == 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY;
      if (transient && ++refusals < 4) {
        if (in_flight_ > 0) Reap();
        continue;
      }
      Abandon();
    }
  }

  // The ring will not take queued_: wait for everything in flight, rebuild
  // the ring so those entries are dropped (a later submit would otherwise
  // send them, pointing at buffers the caller has taken back), and run
  // their ops here. If the ring cannot be rebuilt, later ops run
  // synchronously too.
  void Abandon() {
    while (in_flight_ > 0) Reap();
    io_uring_queue_exit(&ring_);
    ring_ok_ = io_uring_queue_init(depth_, &ring_, 0) == 0;
    for (IoOp* op : queued_) {
      RunSync(op);
      landed_.push_back(op);
    }
    queued_.clear();
  }

  // Waits for one completion, then takes every other one already posted.
  // REQUIRES: in_flight_ > 0. It does not return before a completion: the
  // kernel still holds the caller's buffers, so giving up here would let it
  // write into memory that is no longer theirs.
  void Reap() {
    io_uring_cqe* cqe = nullptr;
    int rc = 0;
    while ((rc = io_uring_wait_cqe(&ring_, &cqe)) < 0) {
      if (rc != -EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    do {
      auto* op = static_cast<IoOp*>(io_uring_cqe_get_data(cqe));
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      --in_flight_;
      Finish(op, res);
      landed_.push_back(op);
    } while (in_flight_ > 0 && io_uring_peek_cqe(&ring_, &cqe) == 0);
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

  const unsigned depth_;
  const UringSubmitFn submit_;
  io_uring ring_{};
  bool ring_ok_ = false;
  size_t in_flight_ = 0;       // submitted, not yet reaped
  std::vector<IoOp*> queued_;  // in the submission queue, not yet submitted
  std::vector<IoOp*> landed_;  // completed, not yet handed to on_done
};

}  // namespace

Status NewUringBackend(unsigned queue_depth, std::unique_ptr<IoBackend>* out,
                       UringSubmitFn submit) {
  auto backend =
      std::make_unique<UringBackend>(queue_depth == 0 ? kUringQueueDepth : queue_depth, submit);
  Status s = backend->Init();
  if (!s.ok()) return s;
  *out = std::move(backend);
  return Status::OK();
}

#else

Status NewUringBackend(unsigned /*queue_depth*/, std::unique_ptr<IoBackend>* /*out*/,
                       UringSubmitFn /*submit*/) {
  return Status::NotSupported("built without liburing");
}

#endif

}  // namespace kvtier
