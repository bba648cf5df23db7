// KeyRing: the secret keys a store authenticates (and encrypts) chunks with,
// read from a key file (docs/SECURITY.md, "Key file").
//
// The file names one key per line, hex or base64, each at least 32 bytes;
// blank lines and lines starting with '#' are skipped. Writes use the first
// key, reads accept any. The file must not be readable by group or others:
// a key a whole node can read protects nothing against that node's pods.
#ifndef KVTIER_SRC_CRYPTO_KEY_RING_H_
#define KVTIER_SRC_CRYPTO_KEY_RING_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvtier/env.h"
#include "kvtier/status.h"

namespace kvtier {

inline constexpr size_t kMinKeyBytes = 32;
inline constexpr size_t kMaxKeyFileBytes = 64 << 10;  // a few keys; anything larger is a mistake
inline constexpr size_t kMaxKeys = 64;

struct AuthKey {
  std::string secret;
  // First 8 bytes of SHA-256 of a value derived from the key with HKDF
  // (label "kvtier key id v1"): names the key in chunk headers and the
  // fingerprint without revealing it.
  uint64_t id = 0;
};

class KeyRing {
 public:
  KeyRing() = default;
  ~KeyRing();  // wipes the secrets
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;
  KeyRing(KeyRing&&) = default;
  KeyRing& operator=(KeyRing&&) = default;

  // Parses key file text; InvalidArgument naming the line on any problem.
  static Status Parse(std::string_view text, KeyRing* out);

  const std::vector<AuthKey>& keys() const { return keys_; }
  // The key id a namespace is named by: the last key's, so that putting a
  // new key first (rotation) keeps the namespace; see docs/SECURITY.md.
  uint64_t anchor_id() const { return keys_.back().id; }

 private:
  std::vector<AuthKey> keys_;
};

// Reads and parses the key file at `path` (symlinks in the path are
// followed: a Kubernetes Secret volume is made of them). Every failure is
// InvalidArgument with the path and the reason: missing, not a regular
// file, readable by group or others, too large, empty, a short or
// malformed key.
Status LoadKeyFile(Env* env, const std::string& path, KeyRing* out);

// The id of one key (AuthKey::id). False only if libcrypto fails.
bool DeriveKeyId(std::string_view secret, uint64_t* id);

// HKDF-SHA256 (RFC 5869) of `ikm` with `info`, no salt, into out[0, n).
bool Hkdf(std::string_view ikm, std::string_view info, unsigned char* out, size_t n);

}  // namespace kvtier

#endif  // KVTIER_SRC_CRYPTO_KEY_RING_H_
