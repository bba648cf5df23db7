#include "kvtier/fingerprint.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kvtier
