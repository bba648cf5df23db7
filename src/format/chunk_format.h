// Chunk file format v1 (docs/FORMAT.md is the normative description).
//
//   [header: 128 fixed bytes + key, zero-padded to a 4 KiB multiple]
//   [payload: payload_length bytes, zero-padded to a 4 KiB multiple]
//
// The payload starts on a 4 KiB boundary so header and payload can move in
// one vectored O_DIRECT transfer straight into the caller's buffer. All
// integers are little-endian.
#ifndef KVTIER_SRC_FORMAT_CHUNK_FORMAT_H_
#define KVTIER_SRC_FORMAT_CHUNK_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kvtier/status.h"
#include "util/hash.h"

namespace kvtier {

inline constexpr char kChunkMagic[8] = {'K', 'V', 'T', 'I', 'E', 'R', 'C', '1'};
inline constexpr uint16_t kFormatVersion = 1;
inline constexpr size_t kBlockSize = 4096;
inline constexpr size_t kFixedHeaderSize = 128;
inline constexpr size_t kMaxKeyLength = 65535;
inline constexpr size_t kMaxChunkBytes = 1ULL << 36;  // 64 GiB: anything larger is garbage

enum class ChecksumType : uint8_t { kNone = 0, kXxh3_128 = 1 };

// Header flags (byte 11). An authenticated chunk carries a tag over header
// and payload (docs/SECURITY.md); an encrypted one also has its payload
// encrypted. Encrypted implies authenticated: the only valid values are 0,
// kFlagAuthenticated and both.
inline constexpr uint8_t kFlagAuthenticated = 1;
inline constexpr uint8_t kFlagEncrypted = 2;
inline constexpr size_t kAuthNonceBytes = 12;
inline constexpr size_t kAuthTagBytes = 16;

// Which AEAD made an authenticated chunk's tag (byte 116). Encrypted chunks
// use AES-256-GCM. Authenticated-only chunks put the whole chunk in the
// associated data of either: ChaCha20-Poly1305 (a Poly1305 MAC whose
// one-time key ChaCha20 derives from the chunk's nonce) or AES-256-GCM
// (GMAC), whichever is faster on the writer's CPU (FasterMacAlgorithm);
// readers accept both.
enum class AuthAlgorithm : uint8_t { kAes256Gcm = 0, kChaCha20Poly1305 = 1 };

struct ChunkHeader {
  uint16_t version = kFormatVersion;
  ChecksumType checksum_type = ChecksumType::kXxh3_128;
  uint64_t payload_length = 0;
  Hash128 payload_checksum;
  Hash128 fingerprint;
  int64_t created_ns = 0;
  uint64_t writer_id = 0;
  std::string key;
  // Authenticated chunks only (zero otherwise): which key and algorithm
  // sealed it, the chunk's random nonce, and the tag.
  uint8_t flags = 0;
  uint64_t auth_key_id = 0;
  AuthAlgorithm auth_alg = AuthAlgorithm::kAes256Gcm;
  std::array<uint8_t, kAuthNonceBytes> nonce{};
  std::array<uint8_t, kAuthTagBytes> tag{};
  bool authenticated() const { return (flags & kFlagAuthenticated) != 0; }
  bool encrypted() const { return (flags & kFlagEncrypted) != 0; }
};

// Why a header or chunk was rejected; each reason has its own counter.
enum class VerifyError : uint8_t {
  kNone = 0,
  kTruncated,
  kBadMagic,
  kBadVersion,
  kHeaderChecksum,
  kKeyMismatch,
  kFingerprintMismatch,
  kLengthMismatch,
  kPayloadChecksum,
  kNotRegularFile,
  kAuth,  // authentication required and missing, or the tag did not match
};
const char* VerifyErrorName(VerifyError e);
inline constexpr int kNumVerifyErrors = 11;

inline constexpr size_t AlignUp(size_t n, size_t a) { return (n + a - 1) / a * a; }

// Bytes the header occupies for a key of this length (the payload offset).
inline constexpr size_t HeaderSize(size_t key_length) {
  return AlignUp(kFixedHeaderSize + key_length, kBlockSize);
}
// Total file size for a chunk.
inline constexpr size_t ChunkFileSize(size_t key_length, size_t payload_length) {
  return HeaderSize(key_length) + AlignUp(payload_length, kBlockSize);
}

// Writes the header into buf[0, HeaderSize(h.key.size())) which must be zeroed.
void EncodeHeader(const ChunkHeader& h, char* buf);

// Parses and self-checks a header (magic, version, lengths, header checksum).
// `len` is how many bytes of the file's start are in buf. On failure *why
// says which check failed.
Status DecodeHeader(const char* buf, size_t len, ChunkHeader* out, VerifyError* why);

// The header bytes an authenticated chunk's tag covers: [0, 128 + key
// length) of an encoded header with the tag and the header checksum zeroed
// (both are written after the tag is known); for ChaCha20-Poly1305, zero-
// padded to a multiple of 16 bytes, so the payload after them starts on a
// Poly1305 block: fed 130 header bytes first, OpenSSL 3.0's vector Poly1305
// ran at half speed over the payload (6.4 vs 13 GB/s on the 2-core VM).
// REQUIRES: buf holds them.
std::string AuthenticatedHeaderBytes(const char* buf, size_t key_length, AuthAlgorithm alg);

}  // namespace kvtier

#endif  // KVTIER_SRC_FORMAT_CHUNK_FORMAT_H_
