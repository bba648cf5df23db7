/* XXH3-128 compiled for one x86 vector instruction set (SSE2, AVX2 or
 * AVX-512).
 *
 * Where xxhash is compiled in (hosts without Debian's libxxhash, whose
 * dispatcher picks the instruction set at run time), the inlined code would
 * otherwise use only the baseline SSE2 path: about half the speed, and a
 * verified load hashes every byte. CMake builds this file once per
 * instruction set with KVTIER_XXH_VARIANT naming it; util/hash.cc calls a
 * variant only after checking the CPU supports it. It is C, not C++, so no
 * inline C++ function compiled for the wider instruction set can be picked by
 * the linker for code that runs on any CPU. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#define KVTIER_CAT2(a, b) a##b
#define KVTIER_CAT(a, b) KVTIER_CAT2(a, b)
#define KVTIER_FN(name) KVTIER_CAT(KVTIER_CAT(kvtier_xxh3_, KVTIER_XXH_VARIANT), name)

void KVTIER_FN(_128)(const void* data, size_t len, unsigned long long out[2]) {
  XXH128_hash_t h = XXH3_128bits(data, len);
  out[0] = h.low64;
  out[1] = h.high64;
}

void KVTIER_FN(_128_update)(void* state, const void* data, size_t len) {
  XXH3_128bits_update((XXH3_state_t*)state, data, len);
}
