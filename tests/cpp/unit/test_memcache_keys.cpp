#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "cachette/memcache/keys.hpp"

namespace mc = cachette::memcache;

namespace {

// Inverse of the wire form, so tests can check what the server will store.
std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
  };
  std::string out;
  for (std::size_t i = 0; i + 4 <= in.size(); i += 4) {
    const int n = value(in[i]) << 18 | value(in[i + 1]) << 12 |
                  (in[i + 2] == '=' ? 0 : value(in[i + 2]) << 6) |
                  (in[i + 3] == '=' ? 0 : value(in[i + 3]));
    out += static_cast<char>(n >> 16);
    if (in[i + 2] != '=') out += static_cast<char>((n >> 8) & 0xff);
    if (in[i + 3] != '=') out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string wire_bytes(const mc::MappedKey& key) {
  const mc::WireKey wire = key.wire();
  return wire.base64 ? base64_decode(wire.token) : std::string(wire.token);
}

TEST(MemcacheKeys, Base64MatchesTheStandardAlphabet) {
  std::string out;
  mc::base64_encode("", out);
  EXPECT_EQ(out, "");
  mc::base64_encode("f", out);
  mc::base64_encode("fo", out);
  mc::base64_encode("foo", out);
  mc::base64_encode("foob", out);
  EXPECT_EQ(out, "Zg==Zm8=Zm9vZm9vYg==");
  out.clear();
  mc::base64_encode(std::string("\xfb\xff\x00", 3), out);
  EXPECT_EQ(out, "+/8A");
}

TEST(MemcacheKeys, PrintableKeysAreSentAsIs) {
  const mc::MappedKey key("user:42");
  EXPECT_EQ(mc::key_form("user:42"), mc::KeyForm::plain);
  EXPECT_EQ(key.wire().token, "user:42");
  EXPECT_FALSE(key.wire().base64);
  EXPECT_EQ(key.stored(), "user:42");
  const std::string longest(250, 'k');
  EXPECT_EQ(mc::MappedKey(longest).wire().token, longest);
}

TEST(MemcacheKeys, OddBytesGoBase64AndStoreTheKeyItself) {
  for (const std::string& key :
       {std::string("with space"), std::string("tab\there"), std::string("caf\xc3\xa9"),
        std::string("\0nul", 4), std::string("line\r\n"), std::string(186, ' ')}) {
    EXPECT_EQ(mc::key_form(key), mc::KeyForm::base64) << key;
    const mc::MappedKey mapped(key);
    EXPECT_TRUE(mapped.wire().base64);
    EXPECT_LE(mapped.wire().token.size(), 250u);
    EXPECT_EQ(mapped.stored(), key);
    EXPECT_EQ(wire_bytes(mapped), key);
  }
}

TEST(MemcacheKeys, LongAndMarkedKeysAreHashedWithTheirPrefix) {
  const std::string long_plain = "ns:" + std::string(300, 'a');
  const std::string long_odd = "ns:" + std::string(187, ' ');
  for (const std::string& key : {long_plain, long_odd, std::string(), std::string("~#looks-hashed"),
                                 std::string(251, 'z')}) {
    EXPECT_EQ(mc::key_form(key), mc::KeyForm::hashed);
    const mc::MappedKey mapped(key);
    EXPECT_TRUE(mapped.stored().starts_with("~#"));
    EXPECT_LE(mapped.stored().size(), 186u);
    EXPECT_EQ(mapped.stored().substr(2, std::min<std::size_t>(key.size(), 120)),
              std::string_view(key).substr(0, 120));
    EXPECT_LE(mapped.wire().token.size(), 250u);
    EXPECT_EQ(wire_bytes(mapped), mapped.stored());
  }
  // SHA-256("") is a known vector; it proves the digest is the one we document.
  EXPECT_EQ(mc::MappedKey("").stored(),
            "~#e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_FALSE(mc::MappedKey(long_plain).wire().base64);
  EXPECT_TRUE(mc::MappedKey(long_odd).wire().base64);
}

TEST(MemcacheKeys, MappingIsDeterministicAndInjective) {
  std::mt19937 rng(7);
  std::set<std::string> stored;
  std::set<std::string> keys;
  const std::string alphabet("ab ~#:\x01\xff", 8);
  for (int i = 0; i < 20000; ++i) {
    const std::size_t length =
        std::uniform_int_distribution<std::size_t>(0, 300)(rng) % (i % 3 == 0 ? 301 : 8);
    std::string key;
    for (std::size_t j = 0; j < length; ++j) key += alphabet[rng() % alphabet.size()];
    if (i % 5 == 0) key = "~#" + key;
    if (!keys.insert(key).second) continue;
    const mc::MappedKey a(key);
    const mc::MappedKey b(key);
    ASSERT_EQ(a.stored(), b.stored());
    ASSERT_TRUE(stored.insert(std::string(a.stored())).second) << "collision on " << key;
  }
}

TEST(MemcacheKeys, StoredKeysFromADumpMapBackToTheSameToken) {
  for (const std::string& key : {std::string("plain"), std::string("odd key"),
                                 std::string(400, 'x'), std::string(200, '\x02')}) {
    const mc::MappedKey mapped(key);
    mc::MappedKey from_dump;
    from_dump.assign_stored(std::string(mapped.stored()));
    EXPECT_EQ(from_dump.wire().token, mapped.wire().token);
    EXPECT_EQ(from_dump.wire().base64, mapped.wire().base64);
  }
}

TEST(MemcacheKeys, PrefixMatchingSeesThroughTheMapping) {
  using P = mc::PrefixMatch;
  auto match = [](const std::string& key, std::string_view prefix) {
    return mc::stored_key_has_prefix(mc::MappedKey(key).stored(), prefix);
  };
  EXPECT_EQ(match("user:1", "user:"), P::yes);
  EXPECT_EQ(match("users:1", "user:"), P::no);
  EXPECT_EQ(match("user:with space", "user:"), P::yes);
  EXPECT_EQ(match("user:" + std::string(400, 'a'), "user:"), P::yes);
  EXPECT_EQ(match("other:" + std::string(400, 'a'), "user:"), P::no);
  EXPECT_EQ(match("~#user:1", "~#user:"), P::yes);
  EXPECT_EQ(match("~#user:1", "user:"), P::no);
  EXPECT_EQ(match("", "user:"), P::no);
  EXPECT_EQ(match("", ""), P::yes);
  // Short hashed keys keep the whole key, so even a longer prefix is decided exactly.
  EXPECT_EQ(match("~#ab", "~#abc"), P::no);
  const std::string long_ns(130, 'n');
  EXPECT_EQ(match(long_ns + ":" + std::string(300, 'a'), long_ns + ":"), P::unknown);
  EXPECT_EQ(match(std::string(119, 'n') + "x" + std::string(300, 'a'), long_ns + ":"), P::no);
  // A foreign key that only looks hashed.
  EXPECT_EQ(mc::stored_key_has_prefix("~#user:short", "~#user:"), P::no);
}

}  // namespace
