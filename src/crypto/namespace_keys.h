// NamespaceKeys: the per-namespace chunk keys, one per key of a KeyRing,
// derived with HKDF-SHA256 from the key and the namespace's fingerprint
// digest. A chunk sealed in one namespace therefore fails authentication in
// every other, even for a tenant holding the same key file.
// Immutable once derived; safe to share between threads.
#ifndef KVTIER_SRC_CRYPTO_NAMESPACE_KEYS_H_
#define KVTIER_SRC_CRYPTO_NAMESPACE_KEYS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "crypto/key_ring.h"
#include "kvtier/fingerprint.h"
#include "util/hash.h"

namespace kvtier {

inline constexpr size_t kChunkKeyBytes = 32;  // AES-256
using ChunkKey = std::array<unsigned char, kChunkKeyBytes>;

class NamespaceKeys {
 public:
  NamespaceKeys() = default;
  ~NamespaceKeys();  // wipes the keys
  NamespaceKeys(const NamespaceKeys&) = delete;
  NamespaceKeys& operator=(const NamespaceKeys&) = delete;

  // REQUIRES: ring holds at least one key.
  static Status Derive(const KeyRing& ring, const Hash128& fingerprint_digest, NamespaceKeys* out);

  // The key chunks are sealed with (the ring's first) and its id.
  uint64_t write_id() const { return entries_.front().id; }
  const ChunkKey& write_key() const { return entries_.front().key; }
  // The key of this id, or nullptr when the ring has none.
  const ChunkKey* Find(uint64_t id) const;

 private:
  struct Entry {
    uint64_t id;
    ChunkKey key;
  };
  std::vector<Entry> entries_;
};

// `fp` with "auth_key_id" (16 hex digits of ring.anchor_id()) added, so
// stores with different keys never share a namespace. InvalidArgument if
// `fp` already has that field.
Status WithKeyId(const Fingerprint& fp, const KeyRing& ring, Fingerprint* out);

// Store::Open's part: loads `key_file`, adds its key id to `fp` (*out_fp)
// and derives that namespace's keys.
Status OpenNamespaceKeys(Env* env, const std::string& key_file, const Fingerprint& fp,
                         Fingerprint* out_fp, std::shared_ptr<const NamespaceKeys>* keys);

}  // namespace kvtier

#endif  // KVTIER_SRC_CRYPTO_NAMESPACE_KEYS_H_
