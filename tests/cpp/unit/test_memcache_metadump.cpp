#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "cachette/memcache/keys.hpp"
#include "cachette/memcache/metadump.hpp"

namespace mc = cachette::memcache;

namespace {

// Writes the line memcached's crawler would print for a stored key.
std::string dump_line(std::string_view stored) {
  std::string line = "key=";
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : stored) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      line += c;
    } else {
      line += '%';
      line += kHex[u >> 4];
      line += kHex[u & 15];
    }
  }
  return line + " exp=-1 la=1 cas=1 fetch=no cls=1 size=70\n";
}

mc::PrefixScan::Step run(mc::PrefixScan& scan, const std::string& bytes) {
  mc::Parser parser;
  parser.feed(bytes);
  mc::Reply reply;
  auto step = mc::PrefixScan::Step::more;
  while (step == mc::PrefixScan::Step::more && parser.next(reply) == mc::ParseStatus::reply) {
    step = scan.on_reply(reply);
  }
  return step;
}

TEST(MemcacheMetadump, CollectsEveryFormOfMatchingKey) {
  const std::string long_key = "user:" + std::string(300, 'x');
  const std::string odd_key = "user:caf\xc3\xa9 au lait";
  std::string dump;
  for (const std::string& key :
       {std::string("user:1"), std::string("users:2"), odd_key, long_key,
        std::string("other:" + std::string(300, 'y')), std::string("user")}) {
    dump += dump_line(mc::MappedKey(key).stored());
  }
  dump += "END\r\n";

  mc::PrefixScan scan("user:");
  EXPECT_EQ(run(scan, dump), mc::PrefixScan::Step::done);
  EXPECT_EQ(scan.scanned(), 6u);
  ASSERT_EQ(scan.matches().size(), 3u);
  EXPECT_EQ(scan.matches()[0], "user:1");
  EXPECT_EQ(scan.matches()[1], odd_key);
  EXPECT_EQ(scan.matches()[2], mc::MappedKey(long_key).stored());
  EXPECT_TRUE(scan.undecided().empty());

  // What gets deleted is addressed exactly as the original put addressed it.
  mc::MappedKey target;
  target.assign_stored(scan.matches()[1]);
  EXPECT_EQ(target.wire().token, mc::MappedKey(odd_key).wire().token);
}

TEST(MemcacheMetadump, VeryLongPrefixesOfHashedKeysAreUndecided) {
  const std::string ns(150, 'n');
  mc::PrefixScan scan(ns + ":");
  const std::string dump =
      dump_line(mc::MappedKey(ns + ":" + std::string(300, 'a')).stored()) + "END\r\n";
  EXPECT_EQ(run(scan, dump), mc::PrefixScan::Step::done);
  EXPECT_TRUE(scan.matches().empty());
  EXPECT_EQ(scan.undecided().size(), 1u);
}

TEST(MemcacheMetadump, RefusalsAndBusy) {
  {
    mc::PrefixScan scan("a:");
    EXPECT_EQ(run(scan, "BUSY currently processing crawler request\r\n"),
              mc::PrefixScan::Step::busy);
  }
  {
    mc::PrefixScan scan("a:");
    EXPECT_EQ(run(scan, "CLIENT_ERROR lru crawler disabled\r\n"), mc::PrefixScan::Step::refused);
    EXPECT_EQ(scan.text(), "lru crawler disabled");
  }
  {
    mc::PrefixScan scan("a:");
    EXPECT_EQ(run(scan, "ERROR\r\n"), mc::PrefixScan::Step::refused);
    EXPECT_EQ(scan.text(), "ERROR");
  }
  {
    mc::PrefixScan scan("a:");
    EXPECT_EQ(run(scan, "HD\r\n"), mc::PrefixScan::Step::refused);
  }
}

}  // namespace
