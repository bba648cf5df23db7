#include "kvtier/fingerprint.h"

#include <gtest/gtest.h>

#include <string>

namespace kvtier {
namespace {

TEST(Fingerprint, CanonicalIgnoresKeyOrderAndWhitespace) {
  Fingerprint a, b;
  ASSERT_TRUE(Fingerprint::FromJson(R"({"model":"m","dtype":"bf16","tp":8})", &a).ok());
  ASSERT_TRUE(
      Fingerprint::FromJson("{ \"tp\": 8,\n \"dtype\":\"bf16\", \"model\" : \"m\" }", &b).ok());
  EXPECT_EQ(a.canonical(), b.canonical());
  EXPECT_EQ(a.digest_hex(), b.digest_hex());
  EXPECT_EQ(a.namespace_name(), b.namespace_name());
  EXPECT_EQ(a.digest_hex().size(), 32u);
}

TEST(Fingerprint, AnyDifferenceChangesTheNamespace) {
  Fingerprint a, b, c;
  ASSERT_TRUE(Fingerprint::FromJson(R"({"model":"m","tp":8})", &a).ok());
  ASSERT_TRUE(Fingerprint::FromJson(R"({"model":"m","tp":4})", &b).ok());
  ASSERT_TRUE(Fingerprint::FromJson(R"({"model":"m","tp":"8"})", &c).ok());
  EXPECT_NE(a.namespace_name(), b.namespace_name());
  EXPECT_NE(a.namespace_name(), c.namespace_name());
}

TEST(Fingerprint, SlugIsASafePathComponent) {
  Fingerprint fp;
  ASSERT_TRUE(Fingerprint::FromJson(R"({"model":"../../etc/Passwd\u0000x/..///"})", &fp).ok());
  const std::string& ns = fp.namespace_name();
  EXPECT_EQ(ns.find('/'), std::string::npos);
  EXPECT_NE(ns.front(), '.');
  ASSERT_TRUE(Fingerprint::FromJson(R"({"model":"meta-llama/Llama-3.3-70B-Instruct"})", &fp).ok());
  EXPECT_EQ(fp.namespace_name().substr(0, 23), "llama-3.3-70b-instruct-");
  ASSERT_TRUE(Fingerprint::FromJson(R"({"x":1})", &fp).ok());
  EXPECT_EQ(fp.namespace_name().substr(0, 3), "kv-");
}

TEST(Fingerprint, RejectsNonObjects) {
  Fingerprint fp;
  EXPECT_FALSE(Fingerprint::FromJson("[1,2]", &fp).ok());
  EXPECT_FALSE(Fingerprint::FromJson("{bad json", &fp).ok());
  EXPECT_FALSE(Fingerprint::FromJson("", &fp).ok());
}

// A planted fingerprint.json nested 100,000 deep crashed (stack overflow in
// serialisation) whoever read it; now it is refused like any malformed one.
TEST(Fingerprint, RejectsDeepNesting) {
  Fingerprint fp;
  const size_t depth = 100000;
  std::string deep = R"({"a":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  EXPECT_FALSE(Fingerprint::FromJson(deep, &fp).ok());
  std::string ok = R"({"a":)" + std::string(60, '[') + std::string(60, ']') + "}";
  EXPECT_TRUE(Fingerprint::FromJson(ok, &fp).ok());
  EXPECT_FALSE(
      Fingerprint::FromJson(R"({"a":)" + std::string(70, '[') + std::string(70, ']') + "}", &fp)
          .ok());
}

}  // namespace
}  // namespace kvtier
