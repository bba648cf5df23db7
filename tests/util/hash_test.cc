// XXH3-128 must give the same digests whichever implementation a build uses
// (Debian's dispatching libxxhash, or xxhash compiled in with an AVX2 /
// AVX-512 variant picked at run time): chunk files written by one node are
// verified by another. The expected values are XXH3-128 of a fixed pattern.
#include "util/hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace kvtier {
namespace {

struct Vector {
  size_t len;
  uint64_t lo;
  uint64_t hi;
};

constexpr Vector kVectors[] = {
    {0, 0x6001c324468d497fULL, 0x99aa06d3014798d8ULL},
    {1, 0x4c5cca45d0f4811fULL, 0x495b62073ef70ca4ULL},
    {17, 0x8d96ef110fcdebb4ULL, 0x66fc23f6439dbd77ULL},
    {240, 0x3f2c53e72293711fULL, 0x5293e17bf553903dULL},
    {241, 0x956cae592c67279eULL, 0xb53840fe3fedf161ULL},
    {4096, 0x9ddd66c14af0daffULL, 0x3e0ff38fa88a55eaULL},
    {1048576, 0x6f7c82505ffbc516ULL, 0x693782642cdfa231ULL},
    {1048589, 0x53c80c3e66e20d20ULL, 0x55b67d5f4a7e9c11ULL},
};

std::vector<unsigned char> Pattern(size_t len) {
  std::vector<unsigned char> b(len);
  for (size_t i = 0; i < len; ++i) b[i] = static_cast<unsigned char>(i * 131 + 7);
  return b;
}

TEST(HashTest, Xxh3_128MatchesKnownDigests) {
  auto buf = Pattern(1048589);
  for (const Vector& v : kVectors) {
    Hash128 h = Xxh3_128(buf.data(), v.len);
    EXPECT_EQ(h.lo, v.lo) << "len " << v.len;
    EXPECT_EQ(h.hi, v.hi) << "len " << v.len;
  }
}

TEST(HashTest, StreamInPiecesEqualsOneShot) {
  auto buf = Pattern(1048589);
  for (const Vector& v : kVectors) {
    Xxh3Stream s;
    size_t off = 0;
    for (size_t piece = 1; off < v.len; piece = piece * 7 + 3) {
      size_t n = std::min(piece, v.len - off);
      s.Update(buf.data() + off, n);
      off += n;
    }
    Hash128 h = s.Digest();
    EXPECT_EQ(h.lo, v.lo) << "len " << v.len;
    EXPECT_EQ(h.hi, v.hi) << "len " << v.len;
  }
}

#ifdef KVTIER_XXH_MULTI_ISA
}  // namespace
}  // namespace kvtier

extern "C" {
void kvtier_xxh3_sse2_128(const void* data, size_t len, unsigned long long out[2]);
void kvtier_xxh3_avx2_128(const void* data, size_t len, unsigned long long out[2]);
void kvtier_xxh3_avx512_128(const void* data, size_t len, unsigned long long out[2]);
}

namespace kvtier {
namespace {

// Xxh3_128 runs only the variant this CPU picks; check every one it can run.
TEST(HashTest, EveryCompiledInVariantMatchesKnownDigests) {
  using Fn = void (*)(const void*, size_t, unsigned long long[2]);
  std::vector<Fn> variants = {kvtier_xxh3_sse2_128};
  if (__builtin_cpu_supports("avx2")) variants.push_back(kvtier_xxh3_avx2_128);
  if (__builtin_cpu_supports("avx512f")) variants.push_back(kvtier_xxh3_avx512_128);
  auto buf = Pattern(1048589);
  for (size_t i = 0; i < variants.size(); ++i) {
    for (const Vector& v : kVectors) {
      unsigned long long out[2];
      variants[i](buf.data(), v.len, out);
      EXPECT_EQ(out[0], v.lo) << "variant " << i << " len " << v.len;
      EXPECT_EQ(out[1], v.hi) << "variant " << i << " len " << v.len;
    }
  }
}
#endif

}  // namespace
}  // namespace kvtier
