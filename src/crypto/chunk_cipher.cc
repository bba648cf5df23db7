#include "crypto/chunk_cipher.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <limits>
#include <vector>

namespace kvtier {

namespace {

EVP_CIPHER_CTX* Ctx(void* p) { return static_cast<EVP_CIPHER_CTX*>(p); }

// EVP's lengths are ints: feed larger runs in pieces.
constexpr size_t kMaxRun = 1u << 30;

// Seconds `cipher` takes to seal `buf` as associated data with `alg`.
double MacSeconds(ChunkCipher* cipher, AuthAlgorithm alg, const std::vector<unsigned char>& buf) {
  const ChunkKey key{};  // any key times alike
  const Nonce nonce{};
  Tag tag;
  const auto start = std::chrono::steady_clock::now();
  if (!cipher->Begin(alg, key, nonce, /*seal=*/true) || !cipher->Aad(buf.data(), buf.size()) ||
      !cipher->SealTag(&tag)) {
    return std::numeric_limits<double>::infinity();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

AuthAlgorithm MeasureFasterMac() {
  const std::vector<unsigned char> buf(256 << 10, 0x5a);
  ChunkCipher cipher;
  double gmac = std::numeric_limits<double>::infinity();
  double poly = gmac;
  for (int round = 0; round < 4; ++round) {
    gmac = std::min(gmac, MacSeconds(&cipher, AuthAlgorithm::kAes256Gcm, buf));
    poly = std::min(poly, MacSeconds(&cipher, AuthAlgorithm::kChaCha20Poly1305, buf));
  }
  return gmac < poly ? AuthAlgorithm::kAes256Gcm : AuthAlgorithm::kChaCha20Poly1305;
}

}  // namespace

AuthAlgorithm FasterMacAlgorithm() {
  static const AuthAlgorithm alg = MeasureFasterMac();
  return alg;
}

ChunkCipher::ChunkCipher()
    : ctx_(EVP_CIPHER_CTX_new()),
      gcm_(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr)),
      poly_(EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr)) {}

ChunkCipher::~ChunkCipher() {
  EVP_CIPHER_CTX_free(Ctx(ctx_));  // also wipes the key schedule
  EVP_CIPHER_free(static_cast<EVP_CIPHER*>(gcm_));
  EVP_CIPHER_free(static_cast<EVP_CIPHER*>(poly_));
}

bool ChunkCipher::NewNonce(Nonce* nonce) {
  return RAND_bytes(nonce->data(), static_cast<int>(nonce->size())) == 1;
}

bool ChunkCipher::Begin(AuthAlgorithm alg, const ChunkKey& key, const Nonce& nonce, bool seal) {
  ok_ = false;
  auto* cipher = static_cast<EVP_CIPHER*>(alg == AuthAlgorithm::kAes256Gcm ? gcm_ : poly_);
  if (ctx_ == nullptr || cipher == nullptr) return false;
  // The default IV length of both AEADs in EVP is 12 bytes, the nonce's size.
  ok_ = EVP_CipherInit_ex2(Ctx(ctx_), cipher, key.data(), nonce.data(), seal ? 1 : 0, nullptr) == 1;
  return ok_;
}

bool ChunkCipher::Aad(const void* data, size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (ok_ && len > 0) {
    int n = static_cast<int>(std::min(len, kMaxRun));
    int outl = 0;
    ok_ = EVP_CipherUpdate(Ctx(ctx_), nullptr, &outl, p, n) == 1;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return ok_;
}

bool ChunkCipher::Crypt(const void* in, void* out, size_t len) {
  const auto* src = static_cast<const unsigned char*>(in);
  auto* dst = static_cast<unsigned char*>(out);
  while (ok_ && len > 0) {
    int n = static_cast<int>(std::min(len, kMaxRun));
    int outl = 0;
    ok_ = EVP_CipherUpdate(Ctx(ctx_), dst, &outl, src, n) == 1 && outl == n;
    src += n;
    dst += n;
    len -= static_cast<size_t>(n);
  }
  return ok_;
}

bool ChunkCipher::SealTag(Tag* tag) {
  int outl = 0;
  unsigned char none[16];
  ok_ = ok_ && EVP_CipherFinal_ex(Ctx(ctx_), none, &outl) == 1 &&
        EVP_CIPHER_CTX_ctrl(Ctx(ctx_), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(tag->size()),
                            tag->data()) == 1;
  return ok_;
}

bool ChunkCipher::OpenTag(const Tag& tag) {
  if (!ok_) return false;
  Tag copy = tag;  // the ctrl takes a non-const pointer
  int outl = 0;
  unsigned char none[16];
  ok_ = EVP_CIPHER_CTX_ctrl(Ctx(ctx_), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(copy.size()),
                            copy.data()) == 1 &&
        EVP_CipherFinal_ex(Ctx(ctx_), none, &outl) == 1;
  return ok_;
}

}  // namespace kvtier
