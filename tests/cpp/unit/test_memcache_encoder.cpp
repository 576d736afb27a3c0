#include <gtest/gtest.h>

#include <string>

#include "cachette/memcache/encoder.hpp"

namespace mc = cachette::memcache;

namespace {

mc::WireKey plain(std::string_view token) {
  return {token, false};
}

TEST(MemcacheEncoder, GetEmitsFlagsInFixedOrder) {
  std::string out;
  ASSERT_TRUE(mc::encode_get(out, {.key = plain("user:1")}));
  EXPECT_EQ(out, "mg user:1 v\r\n");

  out.clear();
  ASSERT_TRUE(mc::encode_get(out, {.key = {"AAEC", true},
                                   .value = true,
                                   .ttl = true,
                                   .return_key = true,
                                   .quiet = true,
                                   .opaque = "17"}));
  EXPECT_EQ(out, "mg AAEC v t k b q O17\r\n");

  out.clear();
  ASSERT_TRUE(mc::encode_get(out, {.key = plain("k"), .value = false}));
  EXPECT_EQ(out, "mg k\r\n");
}

TEST(MemcacheEncoder, SetCarriesByteCountTtlAndData) {
  std::string out;
  ASSERT_TRUE(mc::encode_set(out, {.key = plain("k"), .value = "a\r\nb", .ttl = 60}));
  EXPECT_EQ(out, "ms k 4 T60\r\na\r\nb\r\n");

  out.clear();
  ASSERT_TRUE(mc::encode_set(
      out, {.key = {"Zm9v", true}, .value = "", .ttl = 0, .quiet = true, .opaque = "x"}));
  EXPECT_EQ(out, "ms Zm9v 0 b q Ox\r\n\r\n");

  std::string binary("\0\xff", 2);
  out.clear();
  ASSERT_TRUE(mc::encode_set(out, {.key = plain("b"), .value = binary, .ttl = 1}));
  EXPECT_EQ(out, std::string("ms b 2 T1\r\n\0\xff\r\n", 15));
}

TEST(MemcacheEncoder, DeleteArithmeticAndClassicCommands) {
  std::string out;
  ASSERT_TRUE(mc::encode_delete(out, {.key = plain("k")}));
  ASSERT_TRUE(mc::encode_delete(out, {.key = {"AA==", true}, .quiet = true, .opaque = "9"}));
  EXPECT_EQ(out, "md k\r\nmd AA== b q O9\r\n");

  out.clear();
  ASSERT_TRUE(mc::encode_arithmetic(out, {.key = plain("n")}));
  EXPECT_EQ(out, "ma n v\r\n");
  out.clear();
  ASSERT_TRUE(mc::encode_arithmetic(out, {.key = plain("n"),
                                          .delta = 5,
                                          .decrement = true,
                                          .create_ttl = 30,
                                          .initial = 100,
                                          .return_value = false,
                                          .quiet = true}));
  EXPECT_EQ(out, "ma n N30 J100 D5 MD q\r\n");

  out.clear();
  mc::encode_noop(out);
  mc::encode_flush_all(out);
  mc::encode_version(out);
  mc::encode_metadump(out);
  mc::encode_metadump(out, mc::MetadumpScope::all);
  EXPECT_EQ(out,
            "mn\r\nflush_all\r\nversion\r\nlru_crawler metadump hash\r\n"
            "lru_crawler metadump all\r\n");
}

TEST(MemcacheEncoder, AuthIsASetOfUserSpacePasswordThatNoServerCanStore) {
  std::string out;
  ASSERT_TRUE(mc::encode_auth(out, "alice", "s3cret"));
  std::string padding;
  for (int i = 0; i < mc::kLoginPadding; ++i) padding += " !";
  const std::string data = "alice s3cret" + padding;
  const std::string key = "cachette-login" + std::string(mc::kMaxKeyToken + 1 - 14, '_');
  EXPECT_EQ(out,
            "set " + key + " 0 0 " + std::to_string(data.size()) + "\r\n" + data + "\r\nmn\r\n");
  out.clear();
  EXPECT_FALSE(mc::encode_auth(out, "al ice", "x"));
  EXPECT_FALSE(mc::encode_auth(out, "a:b", "x"));
  EXPECT_FALSE(mc::encode_auth(out, "a", "p w"));
  EXPECT_FALSE(mc::encode_auth(out, "a", "p\r\n"));
  EXPECT_FALSE(mc::encode_auth(out, "", "x"));
  EXPECT_FALSE(mc::encode_auth(out, "a", ""));
  EXPECT_TRUE(out.empty());
}

TEST(MemcacheEncoder, RejectsTokensTheServerWouldMisread) {
  std::string out;
  const std::string long_key(251, 'a');
  EXPECT_FALSE(mc::encode_get(out, {.key = plain("")}));
  EXPECT_FALSE(mc::encode_get(out, {.key = plain(long_key)}));
  EXPECT_TRUE(mc::encode_get(out, {.key = plain(std::string_view(long_key).substr(1))}));
  out.clear();
  EXPECT_FALSE(mc::encode_get(out, {.key = plain("a b")}));
  EXPECT_FALSE(mc::encode_get(out, {.key = plain("a\nb")}));
  EXPECT_FALSE(mc::encode_get(out, {.key = plain("caf\xc3\xa9")}));
  EXPECT_FALSE(mc::encode_get(out, {.key = plain("a\x7f")}));
  // memcached only decodes padded base64 with the standard alphabet.
  EXPECT_FALSE(mc::encode_get(out, {.key = {"Zm9vYg", true}}));
  EXPECT_FALSE(mc::encode_get(out, {.key = {"Zm9v-_==", true}}));
  EXPECT_FALSE(mc::encode_get(out, {.key = {"Z===", true}}));
  EXPECT_FALSE(mc::encode_get(out, {.key = {"Zm=v", true}}));
  EXPECT_FALSE(mc::encode_get(out, {.key = plain("k"), .opaque = std::string(32, 'o')}));
  EXPECT_FALSE(mc::encode_get(out, {.key = plain("k"), .opaque = "a b"}));
  EXPECT_FALSE(mc::encode_set(out, {.key = plain("k"), .value = "v", .ttl = 2592001}));
  EXPECT_FALSE(mc::encode_arithmetic(out, {.key = plain("k"), .create_ttl = 2592001}));
  EXPECT_FALSE(mc::encode_delete(out, {.key = plain("a b")}));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(mc::encode_get(out, {.key = {"Zm9vYg==", true}, .opaque = std::string(31, 'o')}));
  EXPECT_TRUE(mc::encode_set(out, {.key = plain("k"), .value = "v", .ttl = 2592000}));
}

}  // namespace
