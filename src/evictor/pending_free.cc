#include "evictor/pending_free.h"

#include <algorithm>

namespace kvtier::evictor {

void PendingFree::Add(uint64_t bytes, int64_t now_ns) {
  if (bytes == 0 || lag_ns_ <= 0) return;
  entries_.emplace_back(now_ns, bytes);
  own_ += bytes;
}

void PendingFree::Consume(uint64_t bytes) {
  while (bytes > 0 && !entries_.empty()) {
    uint64_t take = std::min(bytes, entries_.front().second);
    entries_.front().second -= take;
    own_ -= take;
    bytes -= take;
    if (entries_.front().second == 0) entries_.pop_front();
  }
}

uint64_t PendingFree::Observe(uint64_t used, int64_t now_ns) {
  while (!entries_.empty() && entries_.front().first <= now_ns - lag_ns_) {
    own_ -= entries_.front().second;
    entries_.pop_front();
  }
  if (have_last_ && used < last_used_) Consume((last_used_ - used) / replicas_);
  last_used_ = used;
  have_last_ = true;
  return Estimate();
}

}  // namespace kvtier::evictor
