// PendingFree: bytes this evictor deleted that the filesystem has not yet
// reported free.
//
// On MooseFS a deleted file's space came back in statvfs only after about
// 13 minutes, and Lustre destroys OST objects asynchronously after an
// unlink; an evictor that trusts statvfs right after deleting sees usage
// unchanged and deletes again (one --once pass at 81% freed 864 MB, statvfs
// still read 88%, the next pass deleted 1.14 GB more). So usage is taken as
// statvfs's minus this estimate.
//
// The rule: every deletion adds its bytes. Every statvfs reading is compared
// with the previous one; a drop in used bytes is taken as deletions showing
// up, and removes that much from the oldest entries (with N replicas, 1/N of
// the drop, the rest being the peers'). An entry older than the lag limit
// (--free-lag) is dropped whatever statvfs says: by then its space is
// either reported free or not coming back. Peers' deletions are not seen;
// they run the same rule on the same statvfs with an equal share of the
// excess, so the estimate counts this replica's pending bytes N times.
// Writers that add bytes while frees show up hide part of the drop, so the
// estimate errs high, toward deleting less, for at most the lag limit.
//
// Thread-safety: not synchronised; the evictor's loop thread owns it.
#ifndef KVTIER_SRC_EVICTOR_PENDING_FREE_H_
#define KVTIER_SRC_EVICTOR_PENDING_FREE_H_

#include <cstdint>
#include <deque>
#include <utility>

namespace kvtier::evictor {

class PendingFree {
 public:
  PendingFree(int64_t lag_ns, int replicas) : lag_ns_(lag_ns), replicas_(replicas) {}

  // This evictor deleted `bytes` at monotonic time now_ns.
  void Add(uint64_t bytes, int64_t now_ns);
  // A statvfs reading of `used` bytes at now_ns; returns Estimate().
  uint64_t Observe(uint64_t used, int64_t now_ns);
  // Bytes deleted (by this replica and, estimated, its peers) that statvfs
  // does not show free yet.
  uint64_t Estimate() const { return own_ * static_cast<uint64_t>(replicas_); }

 private:
  void Consume(uint64_t bytes);

  const int64_t lag_ns_;
  const int replicas_;
  std::deque<std::pair<int64_t, uint64_t>> entries_;  // (time, bytes), oldest first
  uint64_t own_ = 0;                                  // sum of entries_
  uint64_t last_used_ = 0;
  bool have_last_ = false;
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_PENDING_FREE_H_
