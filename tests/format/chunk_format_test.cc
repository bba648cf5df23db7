#include "format/chunk_format.h"

#include <gtest/gtest.h>

#include <vector>

namespace kvtier {
namespace {

ChunkHeader SampleHeader(const std::string& key) {
  ChunkHeader h;
  h.payload_length = 123457;
  h.payload_checksum = Hash128{0x1122334455667788ULL, 0x99aabbccddeeff00ULL};
  h.fingerprint = Hash128{42, 43};
  h.created_ns = 1700000000123456789LL;
  h.writer_id = 0xfeedULL;
  h.key = key;
  return h;
}

TEST(ChunkFormat, RoundTrip) {
  for (size_t key_len : {0, 1, 36, 3968, 3969, 4096}) {
    ChunkHeader h = SampleHeader(std::string(key_len, 'k'));
    std::vector<char> buf(HeaderSize(key_len), 0);
    EXPECT_EQ(buf.size() % kBlockSize, 0u);
    EncodeHeader(h, buf.data());
    ChunkHeader out;
    VerifyError why;
    ASSERT_TRUE(DecodeHeader(buf.data(), buf.size(), &out, &why).ok()) << key_len;
    EXPECT_EQ(out.key, h.key);
    EXPECT_EQ(out.payload_length, h.payload_length);
    EXPECT_EQ(out.payload_checksum, h.payload_checksum);
    EXPECT_EQ(out.fingerprint, h.fingerprint);
    EXPECT_EQ(out.created_ns, h.created_ns);
    EXPECT_EQ(out.writer_id, h.writer_id);
  }
}

TEST(ChunkFormat, EveryFlippedBitIsRejected) {
  ChunkHeader h = SampleHeader("some-key");
  std::vector<char> buf(HeaderSize(h.key.size()), 0);
  EncodeHeader(h, buf.data());
  size_t covered = kFixedHeaderSize + h.key.size();
  for (size_t bit = 0; bit < covered * 8; ++bit) {
    std::vector<char> bad = buf;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    ChunkHeader out;
    VerifyError why = VerifyError::kNone;
    EXPECT_FALSE(DecodeHeader(bad.data(), bad.size(), &out, &why).ok()) << "bit " << bit;
    EXPECT_NE(why, VerifyError::kNone);
  }
}

TEST(ChunkFormat, TruncatedAndGarbage) {
  ChunkHeader h = SampleHeader("k");
  std::vector<char> buf(HeaderSize(1), 0);
  EncodeHeader(h, buf.data());
  ChunkHeader out;
  VerifyError why;
  EXPECT_FALSE(DecodeHeader(buf.data(), 0, &out, &why).ok());
  EXPECT_EQ(why, VerifyError::kTruncated);
  EXPECT_FALSE(DecodeHeader(buf.data(), 100, &out, &why).ok());
  EXPECT_EQ(why, VerifyError::kTruncated);
  std::vector<char> zeros(4096, 0);
  EXPECT_FALSE(DecodeHeader(zeros.data(), zeros.size(), &out, &why).ok());
  EXPECT_EQ(why, VerifyError::kBadMagic);
  // A header claiming a huge key must not read past the buffer.
  std::vector<char> big = buf;
  big[12] = static_cast<char>(0xff);
  big[13] = static_cast<char>(0xff);
  EXPECT_FALSE(DecodeHeader(big.data(), big.size(), &out, &why).ok());
}

TEST(ChunkFormat, Sizes) {
  EXPECT_EQ(HeaderSize(0), 4096u);
  EXPECT_EQ(HeaderSize(3968), 4096u);
  EXPECT_EQ(HeaderSize(3969), 8192u);
  EXPECT_EQ(ChunkFileSize(10, 1), 8192u);
  EXPECT_EQ(ChunkFileSize(10, 4096), 8192u);
  EXPECT_EQ(ChunkFileSize(10, 4097), 12288u);
}

}  // namespace
}  // namespace kvtier
