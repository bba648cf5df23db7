// ChunkCipher: one chunk's AEAD (OpenSSL EVP), fed in payload order as its
// segments move, so the work runs while each segment is still in cache.
//
// Authenticated-only chunks put header and payload in the associated data of
// an AEAD with no plaintext; nothing is encrypted. Two AEADs serve, and a
// load accepts either: ChaCha20-Poly1305 (RFC 8439: Poly1305 under a
// one-time key that ChaCha20 derives from the chunk key and nonce) and
// AES-256-GCM (GMAC). Which one is faster depends on the CPU and OpenSSL's
// code for it (bench/RESULTS.md, one thread in cache: Poly1305 15-17 GB/s
// and GMAC 10-11 on the 2-core VM's EPYC, 10 and 32 on the GPU host's
// Xeon), so a writer times both once (FasterMacAlgorithm). Encrypted chunks
// use AES-256-GCM with the header as associated data and the payload
// encrypted: it decrypts faster than ChaCha20-Poly1305 with AES-NI on both.
// SHA-256 (HMAC) ran at 0.94 GB/s, slower than the loads (docs/SECURITY.md).
//
// One per worker; not safe for concurrent use.
#ifndef KVTIER_SRC_CRYPTO_CHUNK_CIPHER_H_
#define KVTIER_SRC_CRYPTO_CHUNK_CIPHER_H_

#include <array>
#include <cstddef>

#include "crypto/namespace_keys.h"

namespace kvtier {

inline constexpr size_t kNonceBytes = 12;  // the 96-bit nonce of both AEADs
inline constexpr size_t kTagBytes = 16;
using Nonce = std::array<unsigned char, kNonceBytes>;
using Tag = std::array<unsigned char, kTagBytes>;

// The authenticated-only MAC that runs faster here: each seals 256 KiB four
// times, alternately, and the least time of each counts (a scheduler stall
// delays one sample, not the choice). Timed once per process, about a
// millisecond; thread-safe.
AuthAlgorithm FasterMacAlgorithm();

class ChunkCipher {
 public:
  ChunkCipher();
  ~ChunkCipher();
  ChunkCipher(const ChunkCipher&) = delete;
  ChunkCipher& operator=(const ChunkCipher&) = delete;

  // A fresh random nonce (RAND_bytes). False if the generator fails.
  static bool NewNonce(Nonce* nonce);

  // Starts a chunk with `alg`: `seal` to write one, else to open one.
  // REQUIRES: a nonce never used before with this key when sealing. Every
  // call below returns false once libcrypto has failed; the chunk is then
  // bad.
  bool Begin(AuthAlgorithm alg, const ChunkKey& key, const Nonce& nonce, bool seal);
  // Authenticated, not encrypted. All of it must come before Crypt.
  bool Aad(const void* data, size_t len);
  // Encrypts (seal) or decrypts (open) len bytes; in == out is allowed.
  bool Crypt(const void* in, void* out, size_t len);
  // Seal: the tag. Open: whether `tag` matches (in constant time).
  bool SealTag(Tag* tag);
  bool OpenTag(const Tag& tag);

 private:
  void* ctx_;   // EVP_CIPHER_CTX, kept opaque so OpenSSL stays out of headers
  void* gcm_;   // EVP_CIPHER AES-256-GCM, fetched once
  void* poly_;  // EVP_CIPHER ChaCha20-Poly1305, fetched once
  bool ok_ = false;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_CRYPTO_CHUNK_CIPHER_H_
