// The synchronous backend: each op is one preadv/pwritev loop (File::ReadV,
// WriteV) on the calling worker, in order.
#include "io/io_backend.h"

namespace kvtier {

namespace {

class SyncBackend final : public IoBackend {
 public:
  void Execute(IoOp* ops, size_t n, const IoDoneFn* on_done) override {
    for (size_t i = 0; i < n; ++i) {
      IoOp& op = ops[i];
      if (op.write) {
        op.status = op.file->WriteV(op.offset, op.iov, op.iovcnt);
        op.transferred = 0;
        if (op.status.ok()) {
          for (int j = 0; j < op.iovcnt; ++j) op.transferred += op.iov[j].iov_len;
        }
      } else {
        op.status = op.file->ReadV(op.offset, op.iov, op.iovcnt, &op.transferred);
      }
      if (on_done != nullptr) (*on_done)(i);
    }
  }
};

}  // namespace

std::unique_ptr<IoBackend> NewSyncBackend() { return std::make_unique<SyncBackend>(); }

}  // namespace kvtier
