#include "util/stream_copy.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

namespace kvtier {
namespace {

// Every byte lands, none outside [dst, dst + n), whatever the alignment of
// either side and around the sizes where the streaming loop starts.
TEST(StreamCopy, CopiesExactlyTheRangeAtAnyAlignment) {
  const size_t sizes[] = {0, 1, 63, 4095, 4096, 4097, 4096 + 63, 65536 + 17, 3 << 20};
  for (size_t n : sizes) {
    for (size_t dst_off : {0, 1, 15, 16, 33}) {
      for (size_t src_off : {0, 7, 16}) {
        std::vector<char> src(n + src_off);
        for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<char>(i * 131 + 7);
        std::vector<char> dst(n + dst_off + 64, '\x5a');
        StreamCopy(dst.data() + dst_off, src.data() + src_off, n);
        for (size_t i = 0; i < dst_off; ++i) ASSERT_EQ(dst[i], '\x5a') << n << " " << dst_off;
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(dst[dst_off + i], src[src_off + i]) << n << " " << dst_off << " " << i;
        }
        for (size_t i = dst_off + n; i < dst.size(); ++i) ASSERT_EQ(dst[i], '\x5a') << n;
      }
    }
  }
}

}  // namespace
}  // namespace kvtier
