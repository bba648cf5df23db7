// PayloadPieces: the payload as memory pieces (the caller's buffers, or a
// staging buffer; for O_DIRECT a 4 KiB bounce block for the unaligned tail;
// zero padding), cut into segment-sized iovec lists for transfer and
// checksumming.
#ifndef KVTIER_SRC_STORE_PAYLOAD_PIECES_H_
#define KVTIER_SRC_STORE_PAYLOAD_PIECES_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "util/hash.h"

namespace kvtier {

struct Piece {
  char* data;
  size_t len;       // bytes transferred
  size_t hash_len;  // bytes that belong to the payload (the rest is padding)
};

class PayloadPieces {
 public:
  void Add(char* data, size_t len, size_t hash_len) {
    if (len > 0) pieces_.push_back(Piece{data, len, hash_len});
    total_ += len;
  }
  size_t total() const { return total_; }

  // Appends iovecs covering logical bytes [begin, end) to *out.
  void Slice(size_t begin, size_t end, std::vector<struct iovec>* out) const;
  // Feeds payload bytes of [begin, end) (padding excluded) to the hash.
  void Hash(size_t begin, size_t end, Xxh3Stream* hash) const {
    ForEach(begin, end, [hash](char* p, size_t n) { hash->Update(p, n); });
  }
  // Calls fn(data, n) on each run of payload bytes of [begin, end), in order.
  template <class Fn>
  void ForEach(size_t begin, size_t end, const Fn& fn) const {
    size_t base = 0;
    for (const Piece& p : pieces_) {
      size_t lo = std::max(begin, base);
      size_t hi = std::min(end, base + p.hash_len);
      if (lo < hi) fn(p.data + (lo - base), hi - lo);
      base += p.len;
    }
  }

 private:
  std::vector<Piece> pieces_;
  size_t total_ = 0;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_PAYLOAD_PIECES_H_
