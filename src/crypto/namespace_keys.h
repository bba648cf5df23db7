// NamespaceKeys: the per-namespace chunk keys, two per key of a KeyRing
// (one per AEAD: AES-256-GCM for encrypted chunks, ChaCha20-Poly1305 for
// authenticated-only ones, so no key serves two ciphers), derived with
// HKDF-SHA256 from the key and the namespace's fingerprint digest. A chunk
// sealed in one namespace therefore fails authentication in every other,
// even for a tenant holding the same key file.
// Immutable once derived; safe to share between threads.
#ifndef KVTIER_SRC_CRYPTO_NAMESPACE_KEYS_H_
#define KVTIER_SRC_CRYPTO_NAMESPACE_KEYS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "crypto/key_ring.h"
#include "format/chunk_format.h"
#include "kvtier/fingerprint.h"
#include "util/hash.h"

namespace kvtier {

inline constexpr size_t kChunkKeyBytes = 32;  // AES-256 and ChaCha20 alike
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
  const ChunkKey& write_key(AuthAlgorithm alg) const { return entries_.front().For(alg); }
  // The key of this id for `alg`, or nullptr when the ring has none.
  const ChunkKey* Find(uint64_t id, AuthAlgorithm alg) const;

 private:
  struct Entry {
    uint64_t id;
    ChunkKey gcm;   // info "kvtier chunk key v1": AES-256-GCM
    ChunkKey poly;  // info "kvtier chunk mac key v2": ChaCha20-Poly1305
    const ChunkKey& For(AuthAlgorithm alg) const {
      return alg == AuthAlgorithm::kAes256Gcm ? gcm : poly;
    }
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
