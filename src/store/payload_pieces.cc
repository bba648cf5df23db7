#include "store/payload_pieces.h"

#include <algorithm>

namespace kvtier {

void PayloadPieces::Slice(size_t begin, size_t end, std::vector<struct iovec>* out) const {
  size_t base = 0;
  for (const Piece& p : pieces_) {
    size_t lo = std::max(begin, base);
    size_t hi = std::min(end, base + p.len);
    if (lo < hi) out->push_back(iovec{p.data + (lo - base), hi - lo});
    base += p.len;
  }
}

}  // namespace kvtier
