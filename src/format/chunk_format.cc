#include "format/chunk_format.h"

#include <algorithm>
#include <cstring>

namespace kvtier {

namespace {

// Field offsets within the fixed part of the header.
constexpr size_t kOffMagic = 0;           // 8 bytes
constexpr size_t kOffVersion = 8;         // u16
constexpr size_t kOffChecksumType = 10;   // u8
constexpr size_t kOffFlags = 11;          // u8, zero in v1
constexpr size_t kOffKeyLength = 12;      // u32
constexpr size_t kOffPayloadLength = 16;  // u64
constexpr size_t kOffPayloadOffset = 24;  // u64
constexpr size_t kOffPayloadSum = 32;     // 16 bytes: lo64, hi64
constexpr size_t kOffFingerprint = 48;    // 16 bytes: lo64, hi64
constexpr size_t kOffCreated = 64;        // i64, ns since the epoch
constexpr size_t kOffWriter = 72;         // u64
constexpr size_t kOffAuthKeyId = 80;      // u64, authenticated chunks
constexpr size_t kOffNonce = 88;          // 12 bytes
constexpr size_t kOffTag = 100;           // 16 bytes
constexpr size_t kOffAuthAlg = 116;       // u8, authenticated chunks; 117..120 stay zero
constexpr size_t kOffHeaderSum = 120;     // u64, XXH3-128 low half of [0, 128 + key), field as 0

void Put16(char* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetN(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint64_t HeaderSum(const char* buf, size_t covered) {
  // Hash with the checksum field treated as zero, without copying the header.
  Xxh3Stream s;
  static const char kZero[8] = {};
  s.Update(buf, kOffHeaderSum);
  s.Update(kZero, sizeof(kZero));
  s.Update(buf + kOffHeaderSum + 8, covered - kOffHeaderSum - 8);
  return s.Digest().lo;
}

}  // namespace

const char* VerifyErrorName(VerifyError e) {
  switch (e) {
    case VerifyError::kNone:
      return "none";
    case VerifyError::kTruncated:
      return "truncated";
    case VerifyError::kBadMagic:
      return "bad_magic";
    case VerifyError::kBadVersion:
      return "bad_version";
    case VerifyError::kHeaderChecksum:
      return "header_checksum";
    case VerifyError::kKeyMismatch:
      return "key_mismatch";
    case VerifyError::kFingerprintMismatch:
      return "fingerprint_mismatch";
    case VerifyError::kLengthMismatch:
      return "length_mismatch";
    case VerifyError::kPayloadChecksum:
      return "payload_checksum";
    case VerifyError::kNotRegularFile:
      return "not_regular_file";
    case VerifyError::kAuth:
      return "auth";
  }
  return "unknown";
}

void EncodeHeader(const ChunkHeader& h, char* buf) {
  std::memcpy(buf + kOffMagic, kChunkMagic, sizeof(kChunkMagic));
  Put16(buf + kOffVersion, h.version);
  buf[kOffChecksumType] = static_cast<char>(h.checksum_type);
  buf[kOffFlags] = static_cast<char>(h.flags);
  Put32(buf + kOffKeyLength, static_cast<uint32_t>(h.key.size()));
  Put64(buf + kOffPayloadLength, h.payload_length);
  Put64(buf + kOffPayloadOffset, HeaderSize(h.key.size()));
  Put64(buf + kOffPayloadSum, h.payload_checksum.lo);
  Put64(buf + kOffPayloadSum + 8, h.payload_checksum.hi);
  Put64(buf + kOffFingerprint, h.fingerprint.lo);
  Put64(buf + kOffFingerprint + 8, h.fingerprint.hi);
  Put64(buf + kOffCreated, static_cast<uint64_t>(h.created_ns));
  Put64(buf + kOffWriter, h.writer_id);
  if (h.authenticated()) {
    Put64(buf + kOffAuthKeyId, h.auth_key_id);
    std::memcpy(buf + kOffNonce, h.nonce.data(), h.nonce.size());
    std::memcpy(buf + kOffTag, h.tag.data(), h.tag.size());
    buf[kOffAuthAlg] = static_cast<char>(h.auth_alg);
  }
  std::copy(h.key.begin(), h.key.end(), buf + kFixedHeaderSize);
  Put64(buf + kOffHeaderSum, HeaderSum(buf, kFixedHeaderSize + h.key.size()));
}

Status DecodeHeader(const char* buf, size_t len, ChunkHeader* out, VerifyError* why) {
  auto fail = [why](VerifyError e, const char* msg) {
    *why = e;
    return Status::Corruption(msg);
  };
  if (len < kFixedHeaderSize) return fail(VerifyError::kTruncated, "header truncated");
  if (std::memcmp(buf + kOffMagic, kChunkMagic, sizeof(kChunkMagic)) != 0) {
    return fail(VerifyError::kBadMagic, "bad magic");
  }
  uint16_t version = static_cast<uint16_t>(GetN(buf + kOffVersion, 2));
  if (version != kFormatVersion) return fail(VerifyError::kBadVersion, "unsupported version");
  uint64_t key_length = GetN(buf + kOffKeyLength, 4);
  if (key_length > kMaxKeyLength) return fail(VerifyError::kHeaderChecksum, "key length");
  if (len < kFixedHeaderSize + key_length) return fail(VerifyError::kTruncated, "key truncated");
  if (GetN(buf + kOffHeaderSum, 8) != HeaderSum(buf, kFixedHeaderSize + key_length)) {
    return fail(VerifyError::kHeaderChecksum, "header checksum mismatch");
  }
  // The checksum covers the remaining fields, but a writer bug must not turn
  // into an out-of-range read, so check them anyway.
  uint8_t type = static_cast<uint8_t>(buf[kOffChecksumType]);
  const uint8_t flags = static_cast<uint8_t>(buf[kOffFlags]);
  if (type > static_cast<uint8_t>(ChecksumType::kXxh3_128) ||
      (flags != 0 && flags != kFlagAuthenticated &&
       flags != (kFlagAuthenticated | kFlagEncrypted))) {
    return fail(VerifyError::kBadVersion, "unknown checksum type or flags");
  }
  // Authenticated-only chunks of either algorithm decode; encrypted ones
  // are AES-256-GCM.
  const uint8_t alg =
      (flags & kFlagAuthenticated) != 0 ? static_cast<uint8_t>(buf[kOffAuthAlg]) : 0;
  if (alg > static_cast<uint8_t>(AuthAlgorithm::kChaCha20Poly1305) ||
      ((flags & kFlagEncrypted) != 0 && alg != 0)) {
    return fail(VerifyError::kBadVersion, "unknown authentication algorithm");
  }
  uint64_t payload_length = GetN(buf + kOffPayloadLength, 8);
  if (payload_length > kMaxChunkBytes) return fail(VerifyError::kLengthMismatch, "payload length");
  if (GetN(buf + kOffPayloadOffset, 8) != HeaderSize(key_length)) {
    return fail(VerifyError::kBadVersion, "payload offset");
  }
  out->version = version;
  out->checksum_type = static_cast<ChecksumType>(type);
  out->payload_length = payload_length;
  out->payload_checksum = Hash128{GetN(buf + kOffPayloadSum, 8), GetN(buf + kOffPayloadSum + 8, 8)};
  out->fingerprint = Hash128{GetN(buf + kOffFingerprint, 8), GetN(buf + kOffFingerprint + 8, 8)};
  out->created_ns = static_cast<int64_t>(GetN(buf + kOffCreated, 8));
  out->writer_id = GetN(buf + kOffWriter, 8);
  out->flags = flags;
  out->auth_key_id = out->authenticated() ? GetN(buf + kOffAuthKeyId, 8) : 0;
  out->auth_alg = static_cast<AuthAlgorithm>(alg);
  out->nonce = {};
  out->tag = {};
  if (out->authenticated()) {
    std::memcpy(out->nonce.data(), buf + kOffNonce, out->nonce.size());
    std::memcpy(out->tag.data(), buf + kOffTag, out->tag.size());
  }
  out->key.assign(buf + kFixedHeaderSize, key_length);
  *why = VerifyError::kNone;
  return Status::OK();
}

std::string AuthenticatedHeaderBytes(const char* buf, size_t key_length, AuthAlgorithm alg) {
  std::string out(buf, kFixedHeaderSize + key_length);
  if (alg == AuthAlgorithm::kChaCha20Poly1305) out.resize(AlignUp(out.size(), 16), '\0');
  std::memset(out.data() + kOffTag, 0, kAuthTagBytes);
  std::memset(out.data() + kOffHeaderSum, 0, 8);
  return out;
}

}  // namespace kvtier
