#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cachette/memcache/ring.hpp"

namespace mc = cachette::memcache;

namespace {

constexpr int kKeys = 100000;

std::string key_at(int i) {
  return "user:" + std::to_string(i);
}

std::vector<std::string> owners(const mc::HashRing& ring) {
  std::vector<std::string> result;
  result.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) result.emplace_back(ring.server(ring.locate(key_at(i))));
  return result;
}

mc::HashRing ring_of(int servers) {
  mc::HashRing ring;
  for (int s = 0; s < servers; ++s) ring.add("10.0.0." + std::to_string(s) + ":11211");
  return ring;
}

TEST(MemcacheRing, EmptyAndSingle) {
  mc::HashRing ring;
  EXPECT_EQ(ring.locate("k"), mc::HashRing::npos);
  EXPECT_TRUE(ring.add("a:1"));
  EXPECT_FALSE(ring.add("a:1"));
  EXPECT_FALSE(ring.add("b:1", 0));
  EXPECT_EQ(ring.locate("k"), 0u);
  EXPECT_FALSE(ring.remove("b:1"));
  EXPECT_TRUE(ring.remove("a:1"));
  EXPECT_TRUE(ring.empty());
}

TEST(MemcacheRing, Hash64IsFixed) {
  // Pinned so placement never changes silently between releases or platforms.
  EXPECT_EQ(mc::hash64(""), 0xd5a8233879929bf4ULL);
  EXPECT_EQ(mc::hash64("user:1"), 0x5b210fc7b3563127ULL);
  EXPECT_EQ(mc::hash64("abcdefghi"), 0xc930dbff59c44cbfULL);
  EXPECT_NE(mc::hash64("a"), mc::hash64(std::string_view("a\0", 2)));
  EXPECT_NE(mc::hash64("abcdefgh"), mc::hash64("abcdefghi"));
}

TEST(MemcacheRing, KeysSpreadEvenly) {
  const mc::HashRing ring = ring_of(5);
  std::vector<int> counts(5);
  for (int i = 0; i < kKeys; ++i) ++counts[ring.locate(key_at(i))];
  for (int c : counts) {
    EXPECT_GT(c, kKeys / 5 * 0.8) << c;
    EXPECT_LT(c, kKeys / 5 * 1.2) << c;
  }
}

TEST(MemcacheRing, AddingAServerMovesAboutOneNth) {
  mc::HashRing ring = ring_of(4);
  const auto before = owners(ring);
  ring.add("10.0.0.9:11211");
  const auto after = owners(ring);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    // A key only ever moves to the new server.
    ASSERT_EQ(after[i], "10.0.0.9:11211");
  }
  EXPECT_GT(moved, kKeys / 5 * 0.7);
  EXPECT_LT(moved, kKeys / 5 * 1.3);
}

TEST(MemcacheRing, RemovingAServerMovesOnlyItsKeys) {
  mc::HashRing ring = ring_of(5);
  const auto before = owners(ring);
  ring.remove("10.0.0.2:11211");
  const auto after = owners(ring);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] != "10.0.0.2:11211") {
      ASSERT_EQ(before[i], after[i]);
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, kKeys / 5 * 0.7);
  EXPECT_LT(moved, kKeys / 5 * 1.3);
}

TEST(MemcacheRing, PlacementIgnoresInsertionOrder) {
  mc::HashRing forward;
  mc::HashRing backward;
  for (int s = 0; s < 4; ++s) forward.add("s" + std::to_string(s));
  for (int s = 3; s >= 0; --s) backward.add("s" + std::to_string(s));
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(forward.server(forward.locate(key_at(i))),
              backward.server(backward.locate(key_at(i))));
  }
}

TEST(MemcacheRing, WeightScalesShare) {
  mc::HashRing ring;
  ring.add("light", 1);
  ring.add("heavy", 3);
  int heavy = 0;
  for (int i = 0; i < kKeys; ++i) heavy += ring.server(ring.locate(key_at(i))) == "heavy";
  EXPECT_GT(heavy, kKeys * 0.70);
  EXPECT_LT(heavy, kKeys * 0.80);
}

}  // namespace
