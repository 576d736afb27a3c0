// Resident memory per entry, measured rather than estimated. Disabled by default (it takes a
// few hundred MB and a second or two); run with
//   cachette_unit_tests --gtest_also_run_disabled_tests --gtest_filter='*Footprint*'

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "cachette/memory_store.hpp"

namespace cachette {
namespace {

std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

TEST(MemoryStoreFootprint, DISABLED_OneMillionHundredByteValues) {
  constexpr int kEntries = 1'000'000;
  const std::string value(100, 'v');
  std::string key;
  key.reserve(32);
  const std::uint64_t before = resident_bytes();
  {
    MemoryStore store;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kEntries; ++i) {
      key = "key:";
      key += std::to_string(100'000 + i);
      store.put(key, value, 60'000);
    }
    const auto filled = std::chrono::steady_clock::now();
    std::uint64_t found = 0;
    for (int i = 0; i < kEntries; ++i) {
      key = "key:";
      key += std::to_string(100'000 + i);
      found += store.get(key).has_value();
    }
    const auto read = std::chrono::steady_clock::now();
    const std::uint64_t after = resident_bytes();
    const StoreStats s = store.stats();
    ASSERT_EQ(s.entries, static_cast<std::uint64_t>(kEntries));
    ASSERT_EQ(found, static_cast<std::uint64_t>(kEntries));
    using ns = std::chrono::nanoseconds;
    std::printf(
        "entries=%llu charged=%.1f B/entry rss=%.1f B/entry put=%lld ns get=%lld ns\n",
        static_cast<unsigned long long>(s.entries), static_cast<double>(s.bytes) / kEntries,
        static_cast<double>(after - before) / kEntries,
        static_cast<long long>(std::chrono::duration_cast<ns>(filled - start).count() / kEntries),
        static_cast<long long>(std::chrono::duration_cast<ns>(read - filled).count() / kEntries));
    EXPECT_LT(static_cast<double>(after - before) / kEntries, 200.0);
  }
}

}  // namespace
}  // namespace cachette
