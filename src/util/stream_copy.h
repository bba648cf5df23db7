// StreamCopy: memcpy whose stores bypass the CPU caches (x86 non-temporal
// stores; elsewhere plain memcpy).
//
// For copies whose destination no core reads soon: a staged load's copy
// into the engine's buffer, which the GPU reads by DMA. Ordinary stores
// first read each destination line into the cache (a third memory transfer
// per byte) and evict what the filesystem's daemon, sharing the socket's
// last-level cache, is moving at the same moment. glibc's memcpy streams
// only copies larger than most of that cache; a load's copies are segments
// of a few MiB or less.
//
// The stores are fenced before returning, so whatever the caller publishes
// afterwards (a job's completion, under a lock or an atomic) is ordered
// after them, as for memcpy.
#ifndef KVTIER_SRC_UTIL_STREAM_COPY_H_
#define KVTIER_SRC_UTIL_STREAM_COPY_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace kvtier {

inline void StreamCopy(char* dst, const char* src, size_t n) {
#if defined(__SSE2__)
  constexpr size_t kMin = 4096;  // below this the fence costs more than it saves
  if (n >= kMin) {
    const size_t head = (16 - reinterpret_cast<uintptr_t>(dst) % 16) % 16;  // NOLINT
    std::memcpy(dst, src, head);
    dst += head;
    src += head;
    n -= head;
    for (; n >= 64; n -= 64, dst += 64, src += 64) {
      const __m128i* s = reinterpret_cast<const __m128i*>(src);  // NOLINT
      __m128i* d = reinterpret_cast<__m128i*>(dst);              // NOLINT
      const __m128i a = _mm_loadu_si128(s);
      const __m128i b = _mm_loadu_si128(s + 1);
      const __m128i c = _mm_loadu_si128(s + 2);
      const __m128i e = _mm_loadu_si128(s + 3);
      _mm_stream_si128(d, a);
      _mm_stream_si128(d + 1, b);
      _mm_stream_si128(d + 2, c);
      _mm_stream_si128(d + 3, e);
    }
    _mm_sfence();
  }
#endif
  std::memcpy(dst, src, n);
}

}  // namespace kvtier

#endif  // KVTIER_SRC_UTIL_STREAM_COPY_H_
