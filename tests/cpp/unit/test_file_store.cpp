// FileStore semantics in one process: values, expiry, keys of every length, prefix
// erase, flush, growth of the map and size-limit eviction.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cachette/error.hpp"
#include "cachette/file_store.hpp"
#include "test_file_store_fixture.hpp"

// gcc says __SANITIZE_THREAD__, clang answers __has_feature(thread_sanitizer).
#if defined(__SANITIZE_THREAD__)
#define CACHETTE_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CACHETTE_TEST_TSAN 1
#endif
#endif

#if defined(CACHETTE_TEST_TSAN)
// liblmdb is not instrumented: readers and the writer synchronise through its lock-free
// reader table in shared memory, which ThreadSanitizer cannot see, so it reports the page
// copies and compares inside liblmdb as races. Our own code (the map lock, the pool of
// read transactions, the counters) is still checked; only the copies into and out of mapped
// pages, whose ownership that table decides, are exempt.
extern "C" const char* __tsan_default_suppressions() {
  return "called_from_lib:liblmdb.so\n"
         "race:cachette::file::write_record\n"
         "race:cachette::file::read_record\n";
}
#endif

namespace cachette::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(FileStoreTest, RoundTripsBytesAndReportsTtlAndAge) {
  FileStore store(options());
  const std::string value("a\0b\xff", 4);
  store.put("k", value, 60'000);
  auto hit = store.get_with_ttl("k");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->value, value);
  EXPECT_EQ(hit->ttl_ms, 60'000);
  EXPECT_EQ(hit->age_ms, 0);
  advance(1500ms);
  hit = store.get_with_ttl("k");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->ttl_ms, 58'500);
  EXPECT_EQ(hit->age_ms, 1500);
  EXPECT_FALSE(store.get("missing").has_value());

  store.put("k", "second", kNoExpiry);
  hit = store.get_with_ttl("k");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->value, "second");
  EXPECT_EQ(hit->ttl_ms, kNoExpiry);
  EXPECT_EQ(store.stats().entries, 1u);
}

TEST_F(FileStoreTest, EmptyValuesAreValues) {
  FileStore store(options());
  store.put("empty", "", kNoExpiry);
  auto hit = store.get("empty");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, "");
}

TEST_F(FileStoreTest, RefusesBadTtl) {
  FileStore store(options());
  EXPECT_THROW(store.put("k", "v", 0), Error);
  EXPECT_THROW(store.put("k", "v", -5), Error);
}

// Every other store takes the empty key, and the README says any str is a key.
TEST_F(FileStoreTest, TheEmptyKeyIsAKeyDistinctFromEveryOther) {
  FileStore store(options());
  EXPECT_FALSE(store.get("").has_value());
  EXPECT_EQ(store.erase(""), 0u);
  store.put("", "empty", 60000);
  const std::string nuls(448, '\0');
  store.put(nuls, "nuls", 60000);
  store.put(nuls + std::string(40, '\0'), "long nuls", 60000);
  EXPECT_EQ(store.get(""), std::optional<std::string>("empty"));
  EXPECT_EQ(store.get(nuls), std::optional<std::string>("nuls"));
  EXPECT_EQ(store.get(nuls + std::string(40, '\0')), std::optional<std::string>("long nuls"));
  EXPECT_EQ(store.erase_prefix(std::string(1, '\0')), 2u);  // not the empty key
  EXPECT_EQ(store.erase(""), 1u);
  EXPECT_FALSE(store.get("").has_value());
}

TEST_F(FileStoreTest, ExpiredEntriesAreNeverReturnedAndAreSwept) {
  FileStore store(options());
  store.put("long", "y", 600'000);
  store.put("short:1", "x", 200);
  store.put("short:2", "x", 200);
  advance(199ms);
  EXPECT_TRUE(store.get("short:1").has_value());
  advance(1ms);  // expiry is inclusive: at exactly 200 ms the entry is gone
  EXPECT_FALSE(store.get("short:1").has_value());
  EXPECT_FALSE(store.get_with_ttl("short:2").has_value());
  EXPECT_TRUE(store.get("long").has_value());
  EXPECT_EQ(store.stats().entries, 3u);  // expired entries stay until reclaimed
  EXPECT_EQ(store.flush_expired(), 2u);
  EXPECT_EQ(store.flush_expired(), 0u);
  EXPECT_EQ(store.stats().entries, 1u);
  EXPECT_EQ(store.stats().expirations, 2u);
  EXPECT_TRUE(store.get("long").has_value());
}

TEST_F(FileStoreTest, EraseCountsOnlyLiveEntries) {
  FileStore store(options());
  store.put("a", "1", 60'000);
  store.put("gone", "2", 1);
  advance(20ms);
  EXPECT_EQ(store.erase("a"), 1u);
  EXPECT_EQ(store.erase("a"), 0u);
  EXPECT_EQ(store.erase("gone"), 0u);  // removed, but it was already expired
  EXPECT_EQ(store.stats().entries, 0u);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST_F(FileStoreTest, ErasePrefixRemovesExactlyTheNamespace) {
  FileStore store(options());
  for (int i = 0; i < 3000; ++i) store.put("user:" + std::to_string(i), "v", 60'000);
  store.put("user", "not in the namespace", 60'000);
  store.put("user2:x", "not in the namespace", 60'000);
  store.put("users:x", "not in the namespace", 60'000);
  store.put("usea:x", "not in the namespace", 60'000);
  EXPECT_EQ(store.erase_prefix("user:"), 3000u);  // spans several batches
  EXPECT_EQ(store.erase_prefix("user:"), 0u);
  EXPECT_EQ(store.stats().entries, 4u);
  EXPECT_TRUE(store.get("user").has_value());
  EXPECT_TRUE(store.get("user2:x").has_value());
  EXPECT_EQ(store.erase_prefix(""), 4u);
}

TEST_F(FileStoreTest, KeysOfEveryLengthRoundTrip) {
  FileStore store(options());
  std::vector<std::string> keys;
  for (std::size_t n : {1u, 447u, 448u, 449u, 511u, 512u, 1000u, 100'000u}) {
    keys.push_back(std::string(n, 'k'));
  }
  for (const auto& k : keys) store.put(k, "len" + std::to_string(k.size()), kNoExpiry);
  for (const auto& k : keys) {
    auto hit = store.get(k);
    ASSERT_TRUE(hit.has_value()) << k.size();
    EXPECT_EQ(*hit, "len" + std::to_string(k.size()));
  }
  EXPECT_EQ(store.stats().entries, keys.size());
  EXPECT_EQ(store.erase(keys.back()), 1u);
  EXPECT_FALSE(store.get(keys.back()).has_value());
}

TEST_F(FileStoreTest, LongKeysSharingTheirFirstBytesStayDistinct) {
  FileStore store(options());
  const std::string base(600, 'p');
  store.put(base + "A", "a", kNoExpiry);
  store.put(base + "B", "b", kNoExpiry);
  EXPECT_EQ(*store.get(base + "A"), "a");
  EXPECT_EQ(*store.get(base + "B"), "b");
  EXPECT_FALSE(store.get(base + "C").has_value());
  EXPECT_EQ(store.erase(base + "C"), 0u);
  EXPECT_EQ(store.stats().entries, 2u);
}

TEST_F(FileStoreTest, PrefixEraseFindsLongKeys) {
  FileStore store(options());
  const std::string big(700, 'z');
  store.put("ns:" + big + "1", "v", kNoExpiry);
  store.put("ns:" + big + "2", "v", kNoExpiry);
  store.put("ns:short", "v", kNoExpiry);
  store.put("other:" + big, "v", kNoExpiry);
  // A prefix longer than the stored part of long keys: the full key decides.
  EXPECT_EQ(store.erase_prefix("ns:" + big + "1"), 1u);
  EXPECT_TRUE(store.get("ns:" + big + "2").has_value());
  EXPECT_EQ(store.erase_prefix("ns:"), 2u);
  EXPECT_EQ(store.stats().entries, 1u);
  EXPECT_TRUE(store.get("other:" + big).has_value());
}

TEST_F(FileStoreTest, FlushCountsLiveEntriesAndEmptiesTheStore) {
  FileStore store(options());
  for (int i = 0; i < 50; ++i) store.put("k" + std::to_string(i), "v", 60'000);
  store.put("expired", "v", 1);
  advance(20ms);
  EXPECT_EQ(store.flush(), 50u);
  EXPECT_EQ(store.stats().entries, 0u);
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_EQ(store.flush(), 0u);
  store.put("after", "v", 60'000);
  EXPECT_TRUE(store.get("after").has_value());
}

TEST_F(FileStoreTest, EntriesSurviveReopening) {
  {
    FileStore store(options());
    store.put("kept", "value", kNoExpiry);
  }
  FileStore again(options());
  EXPECT_EQ(*again.get("kept"), "value");
}

TEST_F(FileStoreTest, TwoStoresOnOnePathShareEntries) {
  FileStore a(options());
  FileStore b(options());
  a.put("k", "from a", kNoExpiry);
  EXPECT_EQ(*b.get("k"), "from a");
  EXPECT_EQ(b.erase("k"), 1u);
  EXPECT_FALSE(a.get("k").has_value());
}

TEST_F(FileStoreTest, MapGrowsPastItsInitialSize) {
  FileStoreOptions o = options();
  o.initial_map_size = 1 << 20;
  FileStore store(o);
  const std::uint64_t initial = store.map_size();
  const std::string value(10'000, 'v');
  for (int i = 0; i < 2000; ++i) store.put("key" + std::to_string(i), value, kNoExpiry);
  EXPECT_GT(store.map_size(), initial);
  EXPECT_GE(store.map_size(), 20'000'000u);
  for (int i = 0; i < 2000; i += 97) {
    auto hit = store.get("key" + std::to_string(i));
    ASSERT_TRUE(hit.has_value()) << i;
    EXPECT_EQ(*hit, value);
  }
  // One value larger than the whole initial map.
  const std::string huge(8 << 20, 'h');
  store.put("huge", huge, kNoExpiry);
  EXPECT_EQ(store.get("huge")->size(), huge.size());
}

TEST_F(FileStoreTest, SizeLimitEvictsWhatExpiresSoonest) {
  const std::uint64_t limit = 1 << 20;
  FileStore store(options(limit));
  const std::string value(1000, 'v');
  // 600 entries of ~1 KiB charge do not all fit in 1 MiB; ttls grow with the index, and
  // the first 100 never expire.
  for (int i = 0; i < 100; ++i) store.put("forever" + std::to_string(i), value, kNoExpiry);
  for (int i = 0; i < 1500; ++i) {
    store.put("t" + std::to_string(i), value, 1'000'000 + i * 1000);
  }
  const StoreStats st = store.stats();
  EXPECT_LE(st.bytes, limit);
  EXPECT_GT(st.evictions, 0u);
  EXPECT_EQ(st.capacity, limit);
  // Survivors are the entries that never expire and the latest-expiring ones.
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(store.get("forever" + std::to_string(i)).has_value());
  }
  EXPECT_TRUE(store.get("t1499").has_value());
  int first_present = -1;
  for (int i = 0; i < 1500; ++i) {
    const bool present = store.get("t" + std::to_string(i)).has_value();
    if (present && first_present < 0) first_present = i;
    if (first_present >= 0) {
      EXPECT_TRUE(present) << "t" << i << " evicted out of order";
    }
  }
  EXPECT_GT(first_present, 0);
  EXPECT_EQ(st.entries, 100u + static_cast<std::uint64_t>(1500 - first_present));
}

TEST_F(FileStoreTest, SizeLimitNeverEvictsTheEntryBeingWritten) {
  FileStore store(options(1 << 20));
  const std::string value(100'000, 'v');
  for (int i = 0; i < 10; ++i) store.put("old" + std::to_string(i), value, 600'000 + i);
  EXPECT_EQ(store.stats().evictions, 0u);
  // The new entry expires soonest of all, but it is the one being written: old0 goes.
  store.put("new", value, 500'000);
  EXPECT_TRUE(store.get("new").has_value());
  EXPECT_FALSE(store.get("old0").has_value());
  EXPECT_TRUE(store.get("old1").has_value());
  EXPECT_EQ(store.stats().evictions, 1u);
}

TEST_F(FileStoreTest, SizeLimitReclaimsExpiredEntriesBeforeLiveOnes) {
  FileStore store(options(1 << 20));
  const std::string value(100'000, 'v');
  for (int i = 0; i < 5; ++i) store.put("live" + std::to_string(i), value, 600'000);
  for (int i = 0; i < 5; ++i) store.put("dying" + std::to_string(i), value, 1);
  advance(20ms);
  store.put("new", value, 600'000);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(store.get("live" + std::to_string(i)).has_value());
  EXPECT_EQ(store.stats().evictions, 0u);
  EXPECT_GE(store.stats().expirations, 1u);
}

TEST_F(FileStoreTest, EntryLargerThanTheLimitIsRefusedAndNothingChanges) {
  FileStore store(options(1 << 20));
  store.put("k", "small", kNoExpiry);
  try {
    store.put("k", std::string(2 << 20, 'x'), kNoExpiry);
    FAIL() << "expected value_too_large";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::value_too_large);
    EXPECT_NE(std::string(e.what()).find("pickle_max_size"), std::string::npos);
  }
  EXPECT_EQ(*store.get("k"), "small");
}

TEST_F(FileStoreTest, ByteCounterFollowsPutsAndErases) {
  FileStore store(options());
  store.put("a", std::string(100, 'x'), kNoExpiry);
  const std::uint64_t one = store.stats().bytes;
  EXPECT_GT(one, 100u);
  store.put("a", std::string(100, 'y'), kNoExpiry);  // replacing does not double count
  EXPECT_EQ(store.stats().bytes, one);
  store.put("b", std::string(100, 'x'), kNoExpiry);
  EXPECT_EQ(store.stats().bytes, 2 * one);
  store.erase("a");
  store.erase_prefix("b");
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST_F(FileStoreTest, SinkExceptionsLeaveTheStoreUsable) {
  FileStore store(options());
  store.put("k", "v", kNoExpiry);
  for (int i = 0; i < 200; ++i) {  // more than the pool of idle readers
    EXPECT_THROW(
        store.visit(
            "k", [](void*, std::string_view, std::int64_t, std::int64_t) { throw 1; }, nullptr),
        int);
  }
  EXPECT_EQ(*store.get("k"), "v");
  store.put("k2", "v2", kNoExpiry);
  EXPECT_EQ(*store.get("k2"), "v2");
}

TEST_F(FileStoreTest, ThreadedReadersAndWritersAgree) {
  FileStore store(options());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string key = "t" + std::to_string(t) + ":" + std::to_string(i);
        store.put(key, key, kNoExpiry);
        auto hit = store.get(key);
        ASSERT_TRUE(hit.has_value());
        ASSERT_EQ(*hit, key);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store.stats().entries, 2000u);
}

}  // namespace
}  // namespace cachette::testing

namespace cachette::testing {

TEST_F(FileStoreTest, AddStoresOnlyWhenNoLiveEntry) {
  FileStore store(options());
  EXPECT_TRUE(store.add("lock", "token-a", 60'000));
  EXPECT_FALSE(store.add("lock", "token-b", 60'000));
  std::string seen;
  store.visit(
      "lock",
      [](void* out, std::string_view value, std::int64_t, std::int64_t) {
        *static_cast<std::string*>(out) = std::string(value);
      },
      &seen);
  EXPECT_EQ(seen, "token-a");
  // an expired entry counts as absent
  EXPECT_TRUE(store.add("short", "one", 1));
  advance(20ms);
  EXPECT_TRUE(store.add("short", "two", 60'000));
}

TEST_F(FileStoreTest, AddIsSeenByAnotherStoreOnThePath) {
  FileStore first(options());
  FileStore second(options());
  EXPECT_TRUE(first.add("k", "1", 60'000));
  EXPECT_FALSE(second.add("k", "2", 60'000));
  EXPECT_TRUE(second.erase_if_equal("k", "1"));
  EXPECT_TRUE(second.add("k", "2", 60'000));
}

TEST_F(FileStoreTest, EraseIfEqualRemovesOnlyTheMatchingValue) {
  FileStore store(options());
  store.put("lock", "mine", 60'000);
  EXPECT_FALSE(store.erase_if_equal("lock", "theirs"));
  EXPECT_FALSE(store.erase_if_equal("lock", "min"));
  EXPECT_FALSE(store.erase_if_equal("absent", "mine"));
  EXPECT_TRUE(store.erase_if_equal("lock", "mine"));
  EXPECT_FALSE(store.erase_if_equal("lock", "mine"));
  EXPECT_EQ(store.stats().entries, 0u);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST_F(FileStoreTest, AddAndEraseIfEqualWorkOnHashedKeys) {
  FileStore store(options());
  const std::string key(600, 'x');
  EXPECT_TRUE(store.add(key, "t", 60'000));
  EXPECT_FALSE(store.add(key, "u", 60'000));
  EXPECT_TRUE(store.erase_if_equal(key, "t"));
  EXPECT_EQ(store.stats().entries, 0u);
}

TEST_F(FileStoreTest, ConcurrentAddsHaveExactlyOneWinner) {
  FileStore store(options());
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (store.add("race", std::to_string(i), 60'000)) winners.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

}  // namespace cachette::testing
