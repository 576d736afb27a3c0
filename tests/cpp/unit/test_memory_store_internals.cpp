// The memory store's private pieces, tested against simple models: the block allocator and
// the hash index. Their bugs would otherwise show up only as rare corruption under churn.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>

#include "cachette/detail/memory_arena.hpp"
#include "cachette/detail/memory_hash.hpp"
#include "cachette/detail/memory_heap.hpp"
#include "cachette/detail/memory_index.hpp"
#include "cachette/detail/memory_layout.hpp"

namespace cachette::detail {
namespace {

constexpr std::uint64_t kHeapBegin = kPage;

struct HeapFixture {
  explicit HeapFixture(std::uint64_t bytes) : arena(kHeapBegin + bytes), heap(arena.data(), state) {
    Heap::format(state, kHeapBegin, kHeapBegin + bytes);
  }
  Arena arena;
  HeapState state{};
  Heap heap;
};

// Fills a block past its size word with a byte derived from its offset.
void stamp(Heap& heap, Units block, std::uint64_t size) {
  auto* bytes = reinterpret_cast<unsigned char*>(&heap.header(block));
  std::memset(bytes + 4, static_cast<int>(block % 251), size - 4);
}

bool stamp_intact(Heap& heap, Units block, std::uint64_t size) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(&heap.header(block));
  for (std::uint64_t i = 4; i < size; ++i) {
    if (bytes[i] != block % 251) return false;
  }
  return true;
}

TEST(MemoryHeap, RandomChurnNeverOverlapsAndCoalescesBackToEmpty) {
  HeapFixture f(256 << 10);
  std::mt19937_64 rng(11);
  std::map<Units, std::uint64_t> live;  // block -> requested size
  for (int step = 0; step < 50'000; ++step) {
    const bool release = !live.empty() && (rng() % 100 < 45 || step > 45'000);
    if (release) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      ASSERT_TRUE(stamp_intact(f.heap, it->first, it->second)) << "block " << it->first;
      f.heap.release(it->first);
      live.erase(it);
      continue;
    }
    const std::uint64_t want = rng() % 8 == 0 ? rng() % 6000 : rng() % 300;
    const std::uint64_t size = Heap::block_size_for(want);
    const Units block = f.heap.allocate(size);
    if (block == kNull) continue;  // full: the store would evict here
    const std::uint64_t granted = f.heap.header(block).block_size();
    ASSERT_GE(granted, size);
    ASSERT_LT(granted - size, kMinBlock);
    const std::uint64_t begin = std::uint64_t{block} * kUnit;
    ASSERT_GE(begin, f.state.begin);
    ASSERT_LE(begin + granted, f.state.end);
    auto next = live.lower_bound(block);
    if (next != live.end()) {
      ASSERT_LE(begin + granted, std::uint64_t{next->first} * kUnit);
    }
    if (next != live.begin()) {
      auto prev = std::prev(next);
      const std::uint64_t prev_end =
          std::uint64_t{prev->first} * kUnit + f.heap.header(prev->first).block_size();
      ASSERT_LE(prev_end, begin);
    }
    stamp(f.heap, block, granted);
    live[block] = granted;
  }
  for (const auto& [block, size] : live) {
    ASSERT_TRUE(stamp_intact(f.heap, block, size));
    f.heap.release(block);
  }
  EXPECT_EQ(f.state.top, f.state.begin);
  for (std::uint64_t word : f.state.nonempty) EXPECT_EQ(word, 0u);
  EXPECT_NE(f.heap.allocate(f.heap.capacity()), kNull);
}

TEST(MemoryHeap, ReusesFreedBlocksBeforeTheBumpPointer) {
  HeapFixture f(64 << 10);
  const Units a = f.heap.allocate(64);
  const Units b = f.heap.allocate(64);
  const Units c = f.heap.allocate(64);
  (void)c;
  const std::uint64_t top = f.state.top;
  f.heap.release(b);
  EXPECT_EQ(f.heap.allocate(64), b);
  f.heap.release(a);
  f.heap.release(b);  // merges with a
  EXPECT_EQ(f.heap.allocate(128), a);
  EXPECT_EQ(f.state.top, top);
}

TEST(MemoryHeap, SplitsLargerFreeBlocks) {
  HeapFixture f(64 << 10);
  const Units big = f.heap.allocate(4096);
  const Units guard = f.heap.allocate(64);
  (void)guard;
  f.heap.release(big);
  const Units small = f.heap.allocate(96);
  EXPECT_EQ(small, big);
  EXPECT_EQ(f.heap.header(small).block_size(), 96u);
  const Units rest = f.heap.allocate(4000);
  EXPECT_EQ(std::uint64_t{rest} * kUnit, std::uint64_t{big} * kUnit + 96);
}

struct IndexFixture {
  explicit IndexFixture(std::uint64_t max_entries)
      : half(Index::half_bytes_for(max_entries)),
        arena(kPage + 2 * half),
        index(arena.data(), state) {
    Index::format(state, kPage, half);
  }
  std::uint64_t half;
  Arena arena;
  IndexState state{};
  Index index;
};

TEST(MemoryIndex, MatchesAModelUnderChurnWithHeavyCollisions) {
  IndexFixture f(20'000);
  std::mt19937_64 rng(5);
  std::map<Units, std::uint32_t> model;  // entry -> hash
  for (int step = 0; step < 100'000; ++step) {
    // Few distinct hashes whose home slots sit at the end of any power-of-two table: runs
    // are long and wrap around to the start, where backward-shift deletion is subtle.
    const auto hash = static_cast<std::uint32_t>(0xffffffffu - (rng() % 512) * 7);
    const Units entry = static_cast<Units>(1 + rng() % 15'000);
    const auto matches = [entry](Units candidate) { return candidate == entry; };
    auto it = model.find(entry);
    if (it == model.end()) {
      ASSERT_EQ(f.index.find(hash, matches), Index::kNotFound);
      f.index.insert(hash, entry);
      model[entry] = hash;
    } else {
      const std::uint64_t pos = f.index.find(it->second, matches);
      ASSERT_NE(pos, Index::kNotFound);
      ASSERT_EQ(f.index.entry_at(pos), entry);
      if (rng() % 2 == 0) {
        f.index.erase_at(pos);
      } else {
        f.index.erase(it->second, entry);
      }
      model.erase(it);
    }
    ASSERT_EQ(f.state.used, model.size());
  }
  for (const auto& [entry, hash] : model) {
    const Units e = entry;
    ASSERT_NE(f.index.find(hash, [e](Units c) { return c == e; }), Index::kNotFound);
  }
  f.index.reset();
  EXPECT_EQ(f.state.used, 0u);
  EXPECT_EQ(f.state.slots, Index::kInitialSlots);
}

TEST(MemoryIndex, GrowsToHoldTheMostEntriesItWasSizedFor) {
  constexpr std::uint64_t kMax = 100'000;
  IndexFixture f(kMax);
  for (Units e = 1; e <= kMax; ++e) f.index.insert(e * 2654435761u, e);
  EXPECT_LE(f.state.slots * sizeof(IndexSlot), f.state.half_bytes);
  EXPECT_LE(f.state.used * 4, f.state.slots * 3);
  for (Units e = 1; e <= kMax; ++e) {
    ASSERT_NE(f.index.find(e * 2654435761u, [e](Units c) { return c == e; }), Index::kNotFound);
  }
}

TEST(MemoryHash, DependsOnSeedLengthAndEveryByte) {
  const HashSeed a{1, 2};
  const HashSeed b{3, 4};
  EXPECT_EQ(hash_key("key:1", a), hash_key("key:1", a));
  EXPECT_NE(hash_key("key:1", a), hash_key("key:1", b));
  EXPECT_NE(hash_key("a", a), hash_key(std::string("a\0", 2), a));
  EXPECT_NE(hash_key("", a), hash_key(std::string(1, '\0'), a));
  std::set<std::uint64_t> seen;
  std::string key(40, 'k');
  for (std::size_t i = 0; i < key.size(); ++i) {
    key[i] = 'j';
    seen.insert(hash_key(key, a));
    key[i] = 'k';
  }
  EXPECT_EQ(seen.size(), key.size());
  // Both halves are used (shard choice, slot choice): check they spread.
  std::set<std::uint32_t> shards;
  std::set<std::uint32_t> slots;
  for (int i = 0; i < 4096; ++i) {
    const std::uint64_t h = hash_key("key:" + std::to_string(i), a);
    shards.insert(static_cast<std::uint32_t>(h >> 32) & 15);
    slots.insert(static_cast<std::uint32_t>(h) & 4095);
  }
  EXPECT_EQ(shards.size(), 16u);
  EXPECT_GT(slots.size(), 2400u);  // a uniform hash fills ~63% of 4096 slots with 4096 keys
}

}  // namespace
}  // namespace cachette::detail
