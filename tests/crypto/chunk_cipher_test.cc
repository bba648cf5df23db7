// ChunkCipher's MAC is what docs/SECURITY.md says it is: RFC 8439's
// ChaCha20-Poly1305 with the chunk as associated data and no plaintext,
// i.e. Poly1305 under the one-time key ChaCha20 derives from chunk key and
// nonce (block 0), over aad | zero pad to 16 | le64(aad length) | le64(0).
// The reference below builds that from OpenSSL's separate ChaCha20 cipher
// and Poly1305 MAC, so a change of construction (or of how the chunk is fed
// in pieces) fails here.
#include "crypto/chunk_cipher.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

namespace kvtier {
namespace {

Tag ReferenceTag(const ChunkKey& key, const Nonce& nonce, const std::string& aad) {
  // One-time key: the first 32 bytes of ChaCha20 block 0. EVP's ChaCha20
  // IV is the 32-bit block counter (little-endian) followed by the nonce.
  unsigned char iv[16] = {};
  std::copy(nonce.begin(), nonce.end(), iv + 4);
  unsigned char zeros[32] = {};
  unsigned char otk[32] = {};
  int outl = 0;
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
  EXPECT_EQ(EVP_EncryptInit_ex2(c, chacha, key.data(), iv, nullptr), 1);
  EXPECT_EQ(EVP_EncryptUpdate(c, otk, &outl, zeros, sizeof(zeros)), 1);
  EVP_CIPHER_free(chacha);
  EVP_CIPHER_CTX_free(c);

  std::string msg = aad;
  msg.append((16 - aad.size() % 16) % 16, '\0');
  for (uint64_t v : {static_cast<uint64_t>(aad.size()), uint64_t{0}}) {
    for (int i = 0; i < 8; ++i) msg.push_back(static_cast<char>(v >> (8 * i)));
  }
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "POLY1305", nullptr);
  EVP_MAC_CTX* m = EVP_MAC_CTX_new(mac);
  Tag tag{};
  size_t n = 0;
  EXPECT_EQ(EVP_MAC_init(m, otk, sizeof(otk), nullptr), 1);
  EXPECT_EQ(EVP_MAC_update(m, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()), 1);
  EXPECT_EQ(EVP_MAC_final(m, tag.data(), &n, tag.size()), 1);
  EXPECT_EQ(n, tag.size());
  EVP_MAC_CTX_free(m);
  EVP_MAC_free(mac);
  return tag;
}

TEST(ChunkCipher, MacIsChaCha20Poly1305WithTheChunkAsAssociatedData) {
  ChunkKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<unsigned char>(i * 7 + 1);
  Nonce nonce;
  ASSERT_TRUE(ChunkCipher::NewNonce(&nonce));
  std::string aad;
  for (int i = 0; i < 100003; ++i) aad.push_back(static_cast<char>(i * 31));
  ChunkCipher cipher;
  // Fed in uneven pieces, as segments and the header arrive.
  ASSERT_TRUE(cipher.Begin(AuthAlgorithm::kChaCha20Poly1305, key, nonce, /*seal=*/true));
  for (size_t at = 0, n = 1; at < aad.size(); at += n, n = n * 3 + 5) {
    ASSERT_TRUE(cipher.Aad(aad.data() + at, std::min(n, aad.size() - at)));
  }
  Tag tag{};
  ASSERT_TRUE(cipher.SealTag(&tag));
  EXPECT_EQ(tag, ReferenceTag(key, nonce, aad));

  // Opening: the right tag passes, any other byte or nonce fails.
  ASSERT_TRUE(cipher.Begin(AuthAlgorithm::kChaCha20Poly1305, key, nonce, /*seal=*/false));
  ASSERT_TRUE(cipher.Aad(aad.data(), aad.size()));
  EXPECT_TRUE(cipher.OpenTag(tag));
  std::string changed = aad;
  changed[77777] ^= 1;
  ASSERT_TRUE(cipher.Begin(AuthAlgorithm::kChaCha20Poly1305, key, nonce, /*seal=*/false));
  ASSERT_TRUE(cipher.Aad(changed.data(), changed.size()));
  EXPECT_FALSE(cipher.OpenTag(tag));
  Nonce other = nonce;
  other[11] ^= 1;
  ASSERT_TRUE(cipher.Begin(AuthAlgorithm::kChaCha20Poly1305, key, other, /*seal=*/false));
  ASSERT_TRUE(cipher.Aad(aad.data(), aad.size()));
  EXPECT_FALSE(cipher.OpenTag(tag));
  // Nor does the same tag verify as GMAC under the same key and nonce.
  ASSERT_TRUE(cipher.Begin(AuthAlgorithm::kAes256Gcm, key, nonce, /*seal=*/false));
  ASSERT_TRUE(cipher.Aad(aad.data(), aad.size()));
  EXPECT_FALSE(cipher.OpenTag(tag));
}

TEST(ChunkCipher, EncryptionRoundTripsInPlace) {
  ChunkKey key{};
  key[0] = 9;
  Nonce nonce;
  ASSERT_TRUE(ChunkCipher::NewNonce(&nonce));
  std::vector<char> plain(70000);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<char>(i % 251);
  std::vector<char> buf = plain;
  ChunkCipher cipher;
  ASSERT_TRUE(cipher.Begin(AuthAlgorithm::kAes256Gcm, key, nonce, /*seal=*/true));
  ASSERT_TRUE(cipher.Aad("hdr", 3));
  ASSERT_TRUE(cipher.Crypt(buf.data(), buf.data(), 4096));
  ASSERT_TRUE(cipher.Crypt(buf.data() + 4096, buf.data() + 4096, buf.size() - 4096));
  Tag tag{};
  ASSERT_TRUE(cipher.SealTag(&tag));
  EXPECT_NE(buf, plain);
  ASSERT_TRUE(cipher.Begin(AuthAlgorithm::kAes256Gcm, key, nonce, /*seal=*/false));
  ASSERT_TRUE(cipher.Aad("hdr", 3));
  ASSERT_TRUE(cipher.Crypt(buf.data(), buf.data(), buf.size()));
  EXPECT_TRUE(cipher.OpenTag(tag));
  EXPECT_EQ(buf, plain);
}

}  // namespace
}  // namespace kvtier
