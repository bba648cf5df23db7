#include "util/hash.h"

#ifdef KVTIER_XXH_INLINE
#define XXH_INLINE_ALL  // no libxxhash on this machine: compile it in
#endif
#include <xxhash.h>
#ifdef KVTIER_XXH_DISPATCH
// Debian's libxxhash picks SSE2/AVX2/AVX-512 at run time; the inlined code
// above is built for the baseline ISA only. Payload hashing (the bulk of the
// work) goes through the dispatcher.
#include <xxh_x86dispatch.h>
#endif

#ifdef KVTIER_XXH_MULTI_ISA
#include <cpuid.h>

#include <cstdint>

// XXH3 built for SSE2 (x86-64's baseline), AVX2 and AVX-512
// (util/xxh3_variant.c), chosen once from the CPU's features.
extern "C" {
void kvtier_xxh3_sse2_128(const void* data, size_t len, unsigned long long out[2]);
void kvtier_xxh3_sse2_128_update(void* state, const void* data, size_t len);
void kvtier_xxh3_avx2_128(const void* data, size_t len, unsigned long long out[2]);
void kvtier_xxh3_avx2_128_update(void* state, const void* data, size_t len);
void kvtier_xxh3_avx512_128(const void* data, size_t len, unsigned long long out[2]);
void kvtier_xxh3_avx512_128_update(void* state, const void* data, size_t len);
}
#endif

namespace kvtier {

namespace {

#ifdef KVTIER_XXH_MULTI_ISA
// Whether the CPU has the feature (cpuid leaf 7, EBX) and the OS saves the
// registers it needs (XCR0). Read directly rather than through
// __builtin_cpu_supports, whose data (__cpu_model) is in libgcc: the wheel's
// toolchain (tools/build_wheel.sh) links compiler-rt, which lacks it.
bool CpuCanRun(unsigned leaf7_ebx_bit, uint64_t xcr0_mask) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & bit_OSXSAVE) == 0) {
    return false;
  }
  unsigned lo = 0, hi = 0;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const uint64_t xcr0 = (uint64_t{hi} << 32) | lo;
  if ((xcr0 & xcr0_mask) != xcr0_mask || __get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) {
    return false;
  }
  return (b & leaf7_ebx_bit) != 0;
}

struct Xxh3Impl {
  void (*hash)(const void*, size_t, unsigned long long[2]);
  void (*update)(void*, const void*, size_t);
};

const Xxh3Impl& PickXxh3() {
  static const Xxh3Impl impl = [] {
    // XCR0: SSE and AVX state (0x6), plus opmask and ZMM state for AVX-512.
    if (CpuCanRun(bit_AVX512F, 0xe6)) {
      return Xxh3Impl{kvtier_xxh3_avx512_128, kvtier_xxh3_avx512_128_update};
    }
    if (CpuCanRun(bit_AVX2, 0x6)) {
      return Xxh3Impl{kvtier_xxh3_avx2_128, kvtier_xxh3_avx2_128_update};
    }
    return Xxh3Impl{kvtier_xxh3_sse2_128, kvtier_xxh3_sse2_128_update};
  }();
  return impl;
}
#endif

}  // namespace

std::string HexEncode(const void* data, size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out(len * 2, '0');
  for (size_t i = 0; i < len; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

std::string Hash128::ToHex() const {
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    bytes[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  return HexEncode(bytes, sizeof(bytes));
}

Hash128 Xxh3_128(const void* data, size_t len) {
#if defined(KVTIER_XXH_MULTI_ISA)
  unsigned long long out[2];
  PickXxh3().hash(data, len, out);
  XXH128_hash_t h{out[0], out[1]};
#elif defined(KVTIER_XXH_DISPATCH)
  XXH128_hash_t h = XXH3_128bits_dispatch(data, len);
#else
  XXH128_hash_t h = XXH3_128bits(data, len);
#endif
  return Hash128{h.low64, h.high64};
}

uint64_t Xxh3_64(const void* data, size_t len) { return XXH3_64bits(data, len); }

Xxh3Stream::Xxh3Stream() : state_(XXH3_createState()) {
  XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_));
}

Xxh3Stream::~Xxh3Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Xxh3Stream::Update(const void* data, size_t len) {
#if defined(KVTIER_XXH_MULTI_ISA)
  PickXxh3().update(state_, data, len);
#elif defined(KVTIER_XXH_DISPATCH)
  XXH3_128bits_update_dispatch(static_cast<XXH3_state_t*>(state_), data, len);
#else
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, len);
#endif
}

Hash128 Xxh3Stream::Digest() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  return Hash128{h.low64, h.high64};
}

}  // namespace kvtier
