#include "cachette/memory_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cachette/error.hpp"

namespace cachette {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

// Expiry without sleeping: the store reads this clock, and only the test moves it.
struct ManualClock {
  std::shared_ptr<std::atomic<std::int64_t>> ms = std::make_shared<std::atomic<std::int64_t>>(1000);
  void advance(std::chrono::milliseconds by) { *ms += by.count(); }
  MemoryStoreOptions options(MemoryStoreOptions o = {}) const {
    o.clock = [ms = ms] { return ms->load(); };
    return o;
  }
};

constexpr std::uint64_t kHeader = 40;  // charged per entry on top of key and value

std::uint64_t charge(std::string_view key, std::string_view value) {
  return kHeader + key.size() + value.size();
}

TEST(MemoryStore, PutGetOverwriteErase) {
  MemoryStore store;
  EXPECT_EQ(store.get("missing"), std::nullopt);
  store.put("k", "v1", kNoExpiry);
  EXPECT_EQ(store.get("k"), "v1");
  store.put("k", "a longer second value", kNoExpiry);
  EXPECT_EQ(store.get("k"), "a longer second value");
  store.put("k", "v3", kNoExpiry);
  EXPECT_EQ(store.get("k"), "v3");

  StoreStats s = store.stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, charge("k", "v3"));
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.capacity, 256u << 20);

  EXPECT_EQ(store.erase("k"), 1u);
  EXPECT_EQ(store.erase("k"), 0u);
  EXPECT_EQ(store.get("k"), std::nullopt);
  s = store.stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
}

TEST(MemoryStore, EmptyKeyAndValue) {
  MemoryStore store;
  store.put("", "", kNoExpiry);
  EXPECT_EQ(store.get(""), "");
  store.put("e", std::string_view{}, kNoExpiry);  // null data pointer, zero length
  EXPECT_EQ(store.get(std::string_view{}), "");
  EXPECT_EQ(store.get("e"), "");
  EXPECT_EQ(store.stats().bytes, 2 * kHeader + 1);
}

TEST(MemoryStore, BinaryKeysAndValues) {
  MemoryStore store;
  const std::string k1 = "a\0b"s;
  const std::string k2 = "a\0c"s;
  const std::string value = "\0\xff\0 bytes \0"s;
  store.put(k1, value, kNoExpiry);
  store.put(k2, "other", kNoExpiry);
  store.put("a", "short", kNoExpiry);
  store.put("a\0"s, "short with nul", kNoExpiry);
  EXPECT_EQ(store.get(k1), value);
  EXPECT_EQ(store.get(k2), "other");
  EXPECT_EQ(store.get("a"), "short");
  EXPECT_EQ(store.get("a\0"s), "short with nul");
  EXPECT_EQ(store.get("a\0d"s), std::nullopt);
  EXPECT_EQ(store.erase_prefix("a\0"s), 3u);
  EXPECT_EQ(store.get("a"), "short");
}

TEST(MemoryStore, LongKeysAndValuesRoundTrip) {
  MemoryStore store;
  std::mt19937_64 rng(7);
  std::map<std::string, std::string> expected;
  for (int i = 0; i < 200; ++i) {
    std::string key(static_cast<std::size_t>(rng() % 300), 'k');
    key += std::to_string(i);
    std::string value(static_cast<std::size_t>(rng() % 5000), static_cast<char>('a' + i % 26));
    store.put(key, value, kNoExpiry);
    expected[key] = value;
  }
  std::uint64_t bytes = 0;
  for (const auto& [key, value] : expected) {
    EXPECT_EQ(store.get(key), value);
    bytes += charge(key, value);
  }
  EXPECT_EQ(store.stats().bytes, bytes);
}

TEST(MemoryStore, RejectsBadOptionsAndTtl) {
  EXPECT_THROW(MemoryStore(MemoryStoreOptions{1 << 20, 3, {}}), Error);
  EXPECT_THROW(MemoryStore(MemoryStoreOptions{1 << 20, 0, {}}), Error);
  EXPECT_THROW(MemoryStore(MemoryStoreOptions{0, 4, {}}), Error);
  MemoryStore store;
  try {
    store.put("k", "v", 0);
    FAIL() << "ttl 0 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
  }
  EXPECT_THROW(store.put("k", "v", -2), Error);
  EXPECT_EQ(store.get("k"), std::nullopt);
}

TEST(MemoryStore, ThrowingSinkLeavesTheStoreUsable) {
  MemoryStore store(MemoryStoreOptions{1 << 20, 1, {}});
  store.put("k", "v", kNoExpiry);
  auto throwing = [](void*, std::string_view, std::int64_t, std::int64_t) {
    throw std::runtime_error("sink failed");
  };
  EXPECT_THROW(store.visit("k", throwing, nullptr), std::runtime_error);
  EXPECT_EQ(store.get("k"), "v");  // the shard lock was released
}

std::uint64_t stamp_of(Store& store, std::string_view key) {
  std::uint64_t stamp = 0;
  const bool found = store.visit_stamped(
      key,
      [](void* context, std::string_view, std::uint64_t s) {
        *static_cast<std::uint64_t*>(context) = s;
      },
      &stamp);
  EXPECT_TRUE(found) << key;
  return stamp;
}

TEST(MemoryStore, EveryWriteGetsItsOwnStamp) {
  // The stamp is what lets a reader reuse what it built from an earlier read, so a rewrite
  // must never keep one: not in place (same size), not moved (other size), not across keys.
  MemoryStore store(MemoryStoreOptions{1 << 20, 4, {}});
  store.put("a", "1234", kNoExpiry);
  store.put("b", "1234", kNoExpiry);
  const std::uint64_t a1 = stamp_of(store, "a");
  EXPECT_NE(a1, 0u);
  EXPECT_EQ(stamp_of(store, "a"), a1);  // reading leaves it alone
  EXPECT_NE(stamp_of(store, "b"), a1);
  store.put("a", "5678", kNoExpiry);  // same size: rewritten in place
  const std::uint64_t a2 = stamp_of(store, "a");
  EXPECT_NE(a2, a1);
  store.put("a", "a much longer value than before", 60'000);  // a new block
  const std::uint64_t a3 = stamp_of(store, "a");
  EXPECT_NE(a3, a2);
  EXPECT_NE(a3, a1);
  store.erase("a");
  store.put("a", "1234", kNoExpiry);
  const std::uint64_t a4 = stamp_of(store, "a");
  EXPECT_NE(a4, a1);
  store.flush();  // empties the shards; their write counts go on
  store.put("a", "1234", kNoExpiry);
  const std::uint64_t a5 = stamp_of(store, "a");
  for (std::uint64_t earlier : {a1, a2, a3, a4}) EXPECT_NE(a5, earlier);
  store.put("b", "1234", kNoExpiry);

  // put_stamped names the write it replaced, so a reader can let go of what it kept for it.
  store.put("c", "1234", kNoExpiry);
  const std::uint64_t c = stamp_of(store, "c");
  EXPECT_EQ(store.put_stamped("c", "5678", kNoExpiry), c);  // in place
  const std::uint64_t c2 = stamp_of(store, "c");
  EXPECT_EQ(store.put_stamped("c", "a longer value than any before", kNoExpiry), c2);  // moved
  EXPECT_EQ(store.put_stamped("fresh", "v", kNoExpiry), 0u);

  std::string value;
  EXPECT_TRUE(store.visit_stamped(
      "b",
      [](void* context, std::string_view v, std::uint64_t) {
        *static_cast<std::string*>(context) = v;
      },
      &value));
  EXPECT_EQ(value, "1234");
  EXPECT_FALSE(store.visit_stamped(
      "absent", [](void*, std::string_view, std::uint64_t) { FAIL() << "called for a miss"; },
      nullptr));
}

TEST(MemoryStore, ConcurrentWritersGetUniqueStamps) {
  MemoryStore store(MemoryStoreOptions{8 << 20, 8, {}});
  constexpr int kThreads = 4, kKeys = 200, kRounds = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, t] {
      for (int round = 0; round < kRounds; ++round) {
        for (int k = 0; k < kKeys; ++k) {
          store.put("t" + std::to_string(t) + ":" + std::to_string(k), "v", kNoExpiry);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::map<std::uint64_t, int> seen;
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kKeys; ++k) {
      ++seen[stamp_of(store, "t" + std::to_string(t) + ":" + std::to_string(k))];
    }
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kKeys));
  EXPECT_EQ(seen.count(0), 0u);
}

TEST(MemoryStore, TtlAndAgeAreReported) {
  ManualClock clock;
  MemoryStore store(clock.options());
  store.put("forever", "v", kNoExpiry);
  store.put("timed", "v", 10'000);
  clock.advance(20ms);
  auto forever = store.get_with_ttl("forever");
  ASSERT_TRUE(forever);
  EXPECT_EQ(forever->ttl_ms, kNoExpiry);
  EXPECT_GE(forever->age_ms, 20);
  auto timed = store.get_with_ttl("timed");
  ASSERT_TRUE(timed);
  EXPECT_GT(timed->ttl_ms, 0);
  EXPECT_LE(timed->ttl_ms, 10'000 - 20);
  EXPECT_GE(timed->age_ms, 20);

  // Rewriting resets both the expiry and the age.
  store.put("timed", "v2", kNoExpiry);
  timed = store.get_with_ttl("timed");
  ASSERT_TRUE(timed);
  EXPECT_EQ(timed->ttl_ms, kNoExpiry);
  EXPECT_LT(timed->age_ms, 20);
}

TEST(MemoryStore, ExpiredEntriesAreNeverReturnedAndReclaimedLazily) {
  ManualClock clock;
  MemoryStore store(clock.options());
  store.put("short", "v", 30);
  store.put("long", "v", 60'000);
  EXPECT_EQ(store.get("short"), "v");
  clock.advance(60ms);
  EXPECT_EQ(store.get("short"), std::nullopt);
  EXPECT_EQ(store.get("long"), "v");
  StoreStats s = store.stats();
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, charge("long", "v"));
  EXPECT_EQ(s.misses, 1u);

  // erase of an expired entry reclaims it but does not report it as removed.
  store.put("gone", "v", 30);
  clock.advance(60ms);
  EXPECT_EQ(store.erase("gone"), 0u);
  EXPECT_EQ(store.stats().expirations, 2u);
  EXPECT_EQ(store.stats().entries, 1u);
}

TEST(MemoryStore, FlushExpiredCountsWhatItReclaims) {
  ManualClock clock;
  MemoryStore store(clock.options());
  for (int i = 0; i < 50; ++i) store.put("exp:" + std::to_string(i), "value", 30);
  for (int i = 0; i < 7; ++i) store.put("keep:" + std::to_string(i), "value", kNoExpiry);
  EXPECT_EQ(store.flush_expired(), 0u);
  clock.advance(60ms);
  EXPECT_EQ(store.flush_expired(), 50u);
  EXPECT_EQ(store.flush_expired(), 0u);
  StoreStats s = store.stats();
  EXPECT_EQ(s.entries, 7u);
  EXPECT_EQ(s.expirations, 50u);
  EXPECT_EQ(s.bytes, 7 * charge("keep:0", "value"));
}

TEST(MemoryStore, FlushCountsOnlyLiveEntries) {
  ManualClock clock;
  MemoryStore store(clock.options());
  store.put("a", "1", 30);
  store.put("b", "2", 30);
  clock.advance(60ms);
  for (int i = 0; i < 3; ++i) store.put("live" + std::to_string(i), "v", kNoExpiry);
  EXPECT_EQ(store.flush(), 3u);
  StoreStats s = store.stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_EQ(s.expirations, 2u);
  EXPECT_EQ(store.get("live0"), std::nullopt);
  store.put("again", "v", kNoExpiry);
  EXPECT_EQ(store.get("again"), "v");
}

TEST(MemoryStore, ErasePrefixTakesGlobCharactersLiterally) {
  ManualClock clock;
  MemoryStore store(clock.options());
  for (const char* key : {"user:1", "user:2", "users", "u*er:1", "u*er:2", "a?b:1", "axb:1",
                          "[x]:1", "x:1", "user"}) {
    store.put(key, "v", kNoExpiry);
  }
  store.put("user:expired", "v", 30);
  clock.advance(60ms);

  EXPECT_EQ(store.erase_prefix("u*er:"), 2u);
  EXPECT_EQ(store.get("user:1"), "v");
  EXPECT_EQ(store.erase_prefix("a?b"), 1u);
  EXPECT_EQ(store.get("axb:1"), "v");
  EXPECT_EQ(store.erase_prefix("[x]"), 1u);
  EXPECT_EQ(store.get("x:1"), "v");
  EXPECT_EQ(store.erase_prefix("user:"), 2u);  // the expired one is reclaimed, not counted
  EXPECT_EQ(store.get("users"), "v");
  EXPECT_EQ(store.get("user"), "v");
  EXPECT_EQ(store.erase_prefix("nothing"), 0u);
  StoreStats s = store.stats();
  EXPECT_EQ(s.entries, 4u);
  EXPECT_EQ(s.expirations, 1u);
}

TEST(MemoryStore, SieveEvictsTheFirstUnvisitedEntryFromTheTail) {
  // Each entry charges 40 + 2 + 6 = 48 bytes; the budget holds exactly four.
  MemoryStore store(MemoryStoreOptions{4 * 48, 1, {}});
  auto value = [](char c) { return std::string(6, c); };
  for (const char* key : {"k1", "k2", "k3", "k4"}) store.put(key, value(key[1]), kNoExpiry);
  ASSERT_EQ(store.stats().entries, 4u);
  ASSERT_EQ(store.stats().evictions, 0u);

  ASSERT_TRUE(store.get("k1"));  // visited: survives the hand's first pass
  ASSERT_TRUE(store.get("k3"));

  // Queue, oldest first: k1* k2 k3* k4. The hand clears k1 and evicts k2.
  store.put("k5", value('5'), kNoExpiry);
  EXPECT_EQ(store.stats().evictions, 1u);
  EXPECT_FALSE(store.get("k2"));
  // The hand resumes at k3: clears it, evicts k4.
  store.put("k6", value('6'), kNoExpiry);
  EXPECT_FALSE(store.get("k4"));
  // Next unvisited after k4 is k5 (k1 and k3 lost their bits, but the hand is past them).
  store.put("k7", value('7'), kNoExpiry);
  EXPECT_FALSE(store.get("k5"));
  EXPECT_EQ(store.get("k1"), value('1'));
  EXPECT_EQ(store.get("k3"), value('3'));
  EXPECT_EQ(store.get("k6"), value('6'));
  EXPECT_EQ(store.get("k7"), value('7'));
  StoreStats s = store.stats();
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.entries, 4u);
  EXPECT_EQ(s.bytes, 4 * 48u);
}

TEST(MemoryStore, EvictionPrefersExpiredEntries) {
  ManualClock clock;
  MemoryStore store(clock.options(MemoryStoreOptions{4 * 48, 1, {}}));
  const std::string v(6, 'v');  // 40 + 2 + 6 = 48 bytes an entry: four fit
  store.put("k1", v, kNoExpiry);
  store.put("k2", v, kNoExpiry);
  store.put("k3", v, 30);
  store.put("k4", v, kNoExpiry);
  for (const char* key : {"k1", "k2", "k3", "k4"}) ASSERT_TRUE(store.get(key));
  clock.advance(60ms);
  store.put("k5", v, kNoExpiry);
  StoreStats s = store.stats();
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.expirations, 1u);
  for (const char* key : {"k1", "k2", "k4", "k5"}) EXPECT_TRUE(store.get(key)) << key;
}

TEST(MemoryStore, ByteBudgetIsNeverExceeded) {
  for (std::uint32_t shards : {1u, 4u}) {
    MemoryStore store(MemoryStoreOptions{64 << 10, shards, {}});
    std::mt19937_64 rng(shards);
    for (int i = 0; i < 20'000; ++i) {
      const std::string key = "key:" + std::to_string(rng() % 3000);
      const std::string value(static_cast<std::size_t>(rng() % 3000), 'x');
      store.put(key, value, kNoExpiry);
      ASSERT_EQ(store.get(key), value);
      const StoreStats s = store.stats();
      ASSERT_LE(s.bytes, s.capacity);
    }
    const StoreStats s = store.stats();
    EXPECT_GT(s.evictions, 0u);
    EXPECT_GT(s.entries, 0u);
  }
}

TEST(MemoryStore, MixedSizesKeepFittingAfterChurn) {
  // Small and large entries alternate in a tight shard: freed small blocks must coalesce so
  // large ones still fit without emptying the shard every time.
  MemoryStore store(MemoryStoreOptions{16 << 10, 1, {}});
  for (int round = 0; round < 2000; ++round) {
    const std::string key = "k" + std::to_string(round);
    const std::size_t size = round % 10 == 0 ? 4000 : 40 + round % 200;
    store.put(key, std::string(size, 'v'), kNoExpiry);
    ASSERT_EQ(store.get(key)->size(), size);
    ASSERT_LE(store.stats().bytes, store.stats().capacity);
  }
  EXPECT_GT(store.stats().entries, 10u);
}

TEST(MemoryStore, TooLargeEntryLeavesTheOldValueIntact) {
  MemoryStore store(MemoryStoreOptions{4096, 1, {}});
  store.put("k", "small", kNoExpiry);
  const StoreStats before = store.stats();
  try {
    store.put("k", std::string(5000, 'x'), kNoExpiry);
    FAIL() << "oversized value accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::value_too_large);
    EXPECT_NE(std::string(e.what()).find("4096"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store.get("k"), "small");
  EXPECT_EQ(store.stats().bytes, before.bytes);
  // Exactly at the limit still fits (and evicts everything else).
  store.put("big", std::string(4096 - kHeader - 3, 'x'), kNoExpiry);
  EXPECT_EQ(store.stats().bytes, 4096u);
  EXPECT_EQ(store.get("k"), std::nullopt);
}

TEST(MemoryStore, BytesTrackChargedSizesThroughUpdates) {
  MemoryStore store(MemoryStoreOptions{1 << 20, 2, {}});
  std::mt19937_64 rng(3);
  std::map<std::string, std::string> live;
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "key:" + std::to_string(rng() % 200);
    if (rng() % 5 == 0) {
      store.erase(key);
      live.erase(key);
    } else {
      std::string value(static_cast<std::size_t>(rng() % 100), static_cast<char>('a' + i % 26));
      store.put(key, value, kNoExpiry);
      live[key] = value;
    }
  }
  std::uint64_t bytes = 0;
  for (const auto& [key, value] : live) {
    ASSERT_EQ(store.get(key), value);
    bytes += charge(key, value);
  }
  const StoreStats s = store.stats();
  EXPECT_EQ(s.entries, live.size());
  EXPECT_EQ(s.bytes, bytes);
  EXPECT_EQ(s.evictions, 0u);
}

TEST(MemoryStore, ConcurrentMixedOperationsKeepInvariants) {
  MemoryStore store(MemoryStoreOptions{256 << 10, 8, {}});
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0};
  std::atomic<bool> corrupt{false};
  auto worker = [&](unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uint64_t my_reads = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const std::string key = "key:" + std::to_string(rng() % 4000);
      const unsigned op = static_cast<unsigned>(rng() % 100);
      if (op < 45) {
        ++my_reads;
        if (auto value = store.get(key)) {
          // Every value written under a key starts with that key, whatever its length.
          if (value->compare(0, key.size(), key) != 0) corrupt = true;
        }
      } else if (op < 85) {
        std::string value = key + std::string(static_cast<std::size_t>(rng() % 400), 'v');
        const std::int64_t ttl =
            rng() % 4 == 0 ? static_cast<std::int64_t>(1 + rng() % 20) : kNoExpiry;
        store.put(key, value, ttl);
      } else if (op < 95) {
        store.erase(key);
      } else if (op < 97) {
        store.erase_prefix("key:" + std::to_string(rng() % 10));
      } else if (op < 98) {
        store.flush_expired();
      } else {
        const StoreStats s = store.stats();
        if (s.bytes > s.capacity) corrupt = true;
      }
    }
    reads += my_reads;
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 4; ++i) threads.emplace_back(worker, i + 1);
  std::this_thread::sleep_for(500ms);
  stop = true;
  for (auto& t : threads) t.join();

  EXPECT_FALSE(corrupt);
  StoreStats s = store.stats();
  EXPECT_LE(s.bytes, s.capacity);
  EXPECT_EQ(s.hits + s.misses, reads.load());
  EXPECT_GE(s.bytes, s.entries * (kHeader + 8));
  const std::uint64_t entries = s.entries;
  const std::uint64_t removed = store.flush();
  EXPECT_LE(removed, entries);
  s = store.stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
}

}  // namespace
}  // namespace cachette
