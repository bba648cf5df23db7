#include "layout/layout.h"

#include <gtest/gtest.h>

#include <random>

namespace kvtier {
namespace {

bool SafeName(const std::string& name) {
  for (char c : name) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == 'h' || c == '.' ||
              c == 'k' || c == 'v';
    if (!ok) return false;
  }
  return name.size() < 255 && name.find("..") == std::string::npos && name.front() != '.';
}

TEST(Layout, HostileKeysStayUnderTheNamespace) {
  std::vector<std::string> keys = {"/",
                                   "..",
                                   "../../etc/passwd",
                                   std::string("a\0b", 3),
                                   std::string(1, '\0'),
                                   "",
                                   "/abs/path",
                                   "a/b/c",
                                   std::string(4096, 'x'),
                                   std::string(4096, '/'),
                                   "\xff\xfe",
                                   std::string(100, '.'),
                                   std::string(101, '.')};
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string k(rng() % 300, '\0');
    for (auto& c : k) c = static_cast<char>(rng());
    keys.push_back(k);
  }
  for (const std::string& key : keys) {
    ChunkLocation loc = LocateChunk("/root/ns", key);
    ASSERT_EQ(loc.path.rfind("/root/ns/", 0), 0u);
    std::string rest = loc.path.substr(9);
    ASSERT_EQ(rest.size() > 6, true);
    EXPECT_TRUE(IsFanoutDirName(rest.substr(0, 2)));
    EXPECT_EQ(rest[2], '/');
    EXPECT_TRUE(IsFanoutDirName(rest.substr(3, 2)));
    EXPECT_EQ(rest[5], '/');
    std::string name = rest.substr(6);
    EXPECT_TRUE(SafeName(name)) << name;
    EXPECT_TRUE(IsChunkFileName(name)) << name;
    EXPECT_EQ(loc.leaf_dir + "/" + name, loc.path);
  }
}

TEST(Layout, NamesAreDistinctAndStable) {
  EXPECT_EQ(ChunkFileName("ab"), "6162.kv");
  EXPECT_NE(ChunkFileName(""), ChunkFileName(std::string(1, '\0')));
  EXPECT_NE(ChunkFileName(std::string(101, 'a')), ChunkFileName(std::string(102, 'a')));
  EXPECT_EQ(ChunkFileName(std::string(200, 'a')).size(), 36u);
  EXPECT_EQ(LocateChunk("/r", "key").path, LocateChunk("/r", "key").path);
}

TEST(Layout, Classifiers) {
  EXPECT_TRUE(IsChunkFileName("00ff.kv"));
  EXPECT_FALSE(IsChunkFileName("00f.kv"));
  EXPECT_FALSE(IsChunkFileName("00FF.kv"));
  EXPECT_FALSE(IsChunkFileName(".kv"));
  EXPECT_FALSE(IsChunkFileName("abcd.bin"));
  EXPECT_FALSE(IsChunkFileName("fingerprint.json"));
  EXPECT_TRUE(IsTempFileName(".tmp.0011.22"));
  EXPECT_FALSE(IsTempFileName("tmp.0011"));
  EXPECT_TRUE(IsFanoutDirName("a0"));
  EXPECT_FALSE(IsFanoutDirName("a"));
  EXPECT_FALSE(IsFanoutDirName("g0"));
  for (int i = 0; i < 1000; ++i) {
    const std::string leaf = LocateChunk("ns", std::to_string(i)).leaf_dir;  // ns/aa/bb
    ASSERT_EQ(leaf.size(), 8u);
    EXPECT_TRUE(IsFanoutDirName(leaf.substr(3, 2))) << leaf;
    EXPECT_TRUE(IsFanoutDirName(leaf.substr(6, 2))) << leaf;
  }
}

}  // namespace
}  // namespace kvtier
