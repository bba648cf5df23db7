// Key files: what is accepted, and that each bad file is refused at open
// with a message naming the problem.
#include "crypto/key_ring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "kvtier/store.h"
#include "test_util.h"

namespace kvtier {
namespace {

using test::ScratchDir;

const std::string kHexKey(64, 'a');                                          // 32 bytes
const std::string kB64Key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // bytes 0..31

std::string WriteFile(const ScratchDir& dir, const std::string& name, const std::string& text,
                      mode_t mode) {
  std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

TEST(KeyRing, ParsesHexAndBase64SkippingCommentsAndBlankLines) {
  KeyRing ring;
  ASSERT_TRUE(KeyRing::Parse("# keys\n\n" + kHexKey + "\n  " + kB64Key + "  \n", &ring).ok());
  ASSERT_EQ(ring.keys().size(), 2u);
  EXPECT_EQ(ring.keys()[0].secret, std::string(32, '\xaa'));
  std::string expected;
  for (int i = 0; i < 32; ++i) expected.push_back(static_cast<char>(i));
  EXPECT_EQ(ring.keys()[1].secret, expected);
  // Ids differ per key, never reveal it, and are stable.
  EXPECT_NE(ring.keys()[0].id, ring.keys()[1].id);
  uint64_t again = 0;
  ASSERT_TRUE(DeriveKeyId(ring.keys()[0].secret, &again));
  EXPECT_EQ(again, ring.keys()[0].id);
  EXPECT_EQ(ring.anchor_id(), ring.keys()[1].id);
}

TEST(KeyRing, RefusesShortMalformedAndEmpty) {
  KeyRing ring;
  Status s = KeyRing::Parse(std::string(62, 'b') + "\n", &ring);  // 31 bytes
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("31 bytes"), std::string::npos) << s.ToString();
  s = KeyRing::Parse("not a key!\n", &ring);
  EXPECT_NE(s.message().find("neither hex nor base64"), std::string::npos) << s.ToString();
  s = KeyRing::Parse("# only a comment\n\n", &ring);
  EXPECT_NE(s.message().find("no key"), std::string::npos) << s.ToString();
}

// Each bad key file fails Store::Open with InvalidArgument naming the file
// and the reason; nothing is created under the root.
TEST(KeyFile, BadFilesFailOpenClearly) {
  ScratchDir keys;
  ScratchDir root;
  struct Case {
    std::string path;
    std::string expect;
  } cases[] = {
      {keys.path() + "/missing", "No such file"},
      {WriteFile(keys, "empty", "", 0600), "no key"},
      {WriteFile(keys, "world", kHexKey + "\n", 0644), "mode 0644"},
      {WriteFile(keys, "group", kHexKey + "\n", 0640), "mode 0640"},
      {WriteFile(keys, "short", std::string(40, 'c') + "\n", 0600), "20 bytes"},
  };
  for (const Case& c : cases) {
    StoreOptions opts;
    opts.auth_key_file = c.path;
    std::unique_ptr<Store> store;
    Status s = Store::Open(root.path(), test::TestFingerprint(), opts, &store);
    EXPECT_TRUE(s.IsInvalidArgument()) << c.path << ": " << s.ToString();
    EXPECT_NE(s.message().find(c.path), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << s.ToString();
  }
  EXPECT_TRUE(std::filesystem::is_empty(root.path()));
  // encrypt without a key is refused too.
  StoreOptions opts;
  opts.encrypt = true;
  std::unique_ptr<Store> store;
  EXPECT_TRUE(Store::Open(root.path(), test::TestFingerprint(), opts, &store).IsInvalidArgument());
}

TEST(KeyFile, FollowsSymlinksLikeASecretVolume) {
  ScratchDir keys;
  std::string real = WriteFile(keys, "real", kHexKey + "\n", 0400);
  std::filesystem::create_symlink(real, keys.path() + "/link");
  KeyRing ring;
  Status s = LoadKeyFile(Env::Default(), keys.path() + "/link", &ring);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ring.keys().size(), 1u);
}

}  // namespace
}  // namespace kvtier
