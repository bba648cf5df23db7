// Fuzzes the chunk header decoder (format/chunk_format.h), which reads the
// first bytes of every chunk file anyone with write access to the volume
// may have planted. Two kinds of input, chosen by the first byte:
//  - raw: the rest is the start of a file, decoded as the store does;
//  - built: the rest picks header fields, which are encoded (so the header
//    checksum is right and decoding gets past it) and then partly
//    overwritten, to reach the checks behind the checksum.
// Properties checked beyond "no crash, no sanitizer report": a header that
// decodes has in-range fields and re-encodes to one that decodes to the same
// fields.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "format/chunk_format.h"

namespace kvtier {
namespace {

bool SameHeader(const ChunkHeader& a, const ChunkHeader& b) {
  return a.version == b.version && a.checksum_type == b.checksum_type &&
         a.payload_length == b.payload_length && a.payload_checksum == b.payload_checksum &&
         a.fingerprint == b.fingerprint && a.created_ns == b.created_ns &&
         a.writer_id == b.writer_id && a.key == b.key && a.flags == b.flags &&
         a.auth_key_id == b.auth_key_id && a.auth_alg == b.auth_alg && a.nonce == b.nonce &&
         a.tag == b.tag;
}

void CheckDecoded(const char* buf, size_t len) {
  ChunkHeader h;
  VerifyError why = VerifyError::kNone;
  if (!DecodeHeader(buf, len, &h, &why).ok()) {
    if (why == VerifyError::kNone) std::abort();  // a failure must say why
    return;
  }
  if (why != VerifyError::kNone || h.key.size() > kMaxKeyLength ||
      h.payload_length > kMaxChunkBytes || kFixedHeaderSize + h.key.size() > len ||
      (h.encrypted() && !h.authenticated()) ||
      (h.encrypted() && h.auth_alg != AuthAlgorithm::kAes256Gcm) ||
      static_cast<uint8_t>(h.auth_alg) > static_cast<uint8_t>(AuthAlgorithm::kChaCha20Poly1305)) {
    std::abort();
  }
  if (h.authenticated() && AuthenticatedHeaderBytes(buf, h.key.size(), h.auth_alg).size() !=
                               (h.auth_alg == AuthAlgorithm::kChaCha20Poly1305
                                    ? AlignUp(kFixedHeaderSize + h.key.size(), 16)
                                    : kFixedHeaderSize + h.key.size())) {
    std::abort();
  }
  std::vector<char> again(HeaderSize(h.key.size()), '\0');
  EncodeHeader(h, again.data());
  ChunkHeader h2;
  if (!DecodeHeader(again.data(), again.size(), &h2, &why).ok() || !SameHeader(h, h2)) {
    std::abort();
  }
}

std::vector<char> Built(FuzzedDataProvider* in) {
  ChunkHeader h;
  h.version = in->ConsumeBool() ? kFormatVersion : in->ConsumeIntegral<uint16_t>();
  h.checksum_type = static_cast<ChecksumType>(in->ConsumeIntegralInRange<uint8_t>(0, 3));
  h.payload_length = in->ConsumeBool() ? in->ConsumeIntegralInRange<uint64_t>(0, 1 << 20)
                                       : in->ConsumeIntegral<uint64_t>();
  h.payload_checksum = Hash128{in->ConsumeIntegral<uint64_t>(), in->ConsumeIntegral<uint64_t>()};
  h.fingerprint = Hash128{in->ConsumeIntegral<uint64_t>(), in->ConsumeIntegral<uint64_t>()};
  h.created_ns = in->ConsumeIntegral<int64_t>();
  h.writer_id = in->ConsumeIntegral<uint64_t>();
  const uint8_t kFlags[] = {0, kFlagAuthenticated, kFlagAuthenticated | kFlagEncrypted,
                            in->ConsumeIntegral<uint8_t>()};
  h.flags = in->PickValueInArray(kFlags);
  h.auth_key_id = in->ConsumeIntegral<uint64_t>();
  h.auth_alg = static_cast<AuthAlgorithm>(in->ConsumeIntegralInRange<uint8_t>(0, 2));
  in->ConsumeData(h.nonce.data(), h.nonce.size());
  in->ConsumeData(h.tag.data(), h.tag.size());
  h.key = in->ConsumeRandomLengthString(512);
  std::vector<char> buf(HeaderSize(h.key.size()), '\0');
  EncodeHeader(h, buf.data());
  // Overwrite a few bytes at chosen offsets, then cut the buffer short.
  int edits = in->ConsumeIntegralInRange<int>(0, 4);
  for (int i = 0; i < edits; ++i) {
    size_t at = in->ConsumeIntegralInRange<size_t>(0, buf.size() - 1);
    buf[at] = static_cast<char>(in->ConsumeIntegral<uint8_t>());
  }
  buf.resize(in->ConsumeIntegralInRange<size_t>(0, buf.size()));
  return buf;
}

}  // namespace
}  // namespace kvtier

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    // A copy of exactly `size - 1` bytes, so ASan sees any read past them.
    std::vector<char> file(data + 1, data + size);
    kvtier::CheckDecoded(file.data(), file.size());
    return 0;
  }
  FuzzedDataProvider in(data + 1, size - 1);
  std::vector<char> built = kvtier::Built(&in);
  kvtier::CheckDecoded(built.data(), built.size());
  return 0;
}
