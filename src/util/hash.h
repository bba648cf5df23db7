// Hashing used by the format and layout: XXH3-128 for payload checksums,
// fingerprint digests and the header checksum (its low 64 bits: docs/FORMAT.md),
// XXH3-64 for fan-out and for the hashes of names kept in memory (the
// evictor's index, the lookup cache's shards).
#ifndef KVTIER_SRC_UTIL_HASH_H_
#define KVTIER_SRC_UTIL_HASH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvtier {

struct Hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const Hash128& o) const { return lo == o.lo && hi == o.hi; }
  bool operator!=(const Hash128& o) const { return !(*this == o); }
  std::string ToHex() const;  // 32 lowercase hex digits, high half first
};

Hash128 Xxh3_128(const void* data, size_t len);
uint64_t Xxh3_64(const void* data, size_t len);
inline uint64_t Xxh3_64(std::string_view s) { return Xxh3_64(s.data(), s.size()); }

// Incremental XXH3-128, so a payload can be hashed piece by piece while each
// piece is still in the CPU cache after its transfer.
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;
  void Update(const void* data, size_t len);
  Hash128 Digest() const;

 private:
  void* state_;  // XXH3_state_t, kept opaque so xxhash.h stays out of headers
};

std::string HexEncode(const void* data, size_t len);

}  // namespace kvtier

#endif  // KVTIER_SRC_UTIL_HASH_H_
