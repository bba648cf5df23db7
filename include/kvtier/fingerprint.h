// Fingerprint: everything that must match for two engines to share KV chunks
// (model and revision, engine version family, KV dtype, memory layout, tokens
// per chunk, parallel sizes and rank, hash algorithm, optional tenant salt).
// It is canonicalised (sorted keys, compact JSON) and hashed; the digest names
// the namespace directory and is stamped into every chunk header, so chunks of
// different fingerprints can never be confused.
#ifndef KVTIER_INCLUDE_FINGERPRINT_H_
#define KVTIER_INCLUDE_FINGERPRINT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "kvtier/status.h"

namespace kvtier {

class Fingerprint {
 public:
  Fingerprint() = default;

  // Parses a JSON object. Values may be strings, numbers, booleans, null,
  // arrays or objects. Anything else is InvalidArgument.
  static Status FromJson(std::string_view json, Fingerprint* out);

  // Sorted keys, no whitespace: identical content gives identical bytes.
  const std::string& canonical() const { return canonical_; }
  // 32 lowercase hex digits of XXH3-128 over canonical().
  const std::string& digest_hex() const { return digest_hex_; }
  uint64_t digest_lo() const { return digest_lo_; }
  uint64_t digest_hi() const { return digest_hi_; }
  // "<model-slug>-<first 12 hex digits of the digest>".
  const std::string& namespace_name() const { return namespace_name_; }

 private:
  std::string canonical_ = "{}";
  std::string digest_hex_;
  std::string namespace_name_;
  uint64_t digest_lo_ = 0;
  uint64_t digest_hi_ = 0;
};

}  // namespace kvtier

#endif  // KVTIER_INCLUDE_FINGERPRINT_H_
