// A file store that cannot grow (a full disk, simulated with the process's file size limit,
// RLIMIT_FSIZE, which the store checks before growing: no root, no mount) refuses writes with
// Error(store_full) and can still be read, cleared and flushed, again and again.

#include <signal.h>
#include <sys/resource.h>

#include <string>

#include "cachette/error.hpp"
#include "test_file_store_fixture.hpp"

namespace cachette::testing {
namespace {

// Lowers the soft file size limit for the test's lifetime (SIGXFSZ ignored meanwhile, as a
// process that meets the limit would otherwise be killed by it).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &lowered);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  sighandler_t old_handler_ = SIG_DFL;
};

// Puts 3 KB values under "<prefix><i>" until the store refuses one; returns how many it took.
int fill_until_full(FileStore& store, const std::string& prefix) {
  const std::string value(3000, 'v');
  for (int i = 0; i < 100000; ++i) {
    try {
      store.put(prefix + std::to_string(i), value, kNoExpiry);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::store_full) << e.what();
      return i;
    }
  }
  ADD_FAILURE() << "the store never filled";
  return 0;
}

TEST_F(FileStoreTest, AStoreThatCannotGrowRefusesWritesAsFullAndStillEmpties) {
  FileStoreOptions o = options();
  o.initial_map_size = 1ull << 20;
  FileStore store(o);
  const FileSizeLimit limit(6ull << 20);

  const int stored = fill_until_full(store, "a:");
  ASSERT_GT(stored, 500);
  EXPECT_LE(store.map_size(), 6ull << 20);
  // Reads work on the full store, and refusing wrote nothing.
  EXPECT_EQ(store.get("a:0"), std::string(3000, 'v'));
  EXPECT_FALSE(store.get("a:" + std::to_string(stored)));

  // A namespace clear and a single erase work on the full store...
  store.erase("a:0");
  std::uint64_t ones = 0;
  for (int i = 0; i < stored; ++i) ones += std::to_string(i)[0] == '1' ? 1 : 0;
  EXPECT_EQ(store.erase_prefix("a:1"), ones);
  // ...and so does a flush, after which the store takes writes again.
  const std::uint64_t left = store.stats().entries;
  EXPECT_EQ(store.flush(), left);
  EXPECT_EQ(store.stats().entries, 0u);
  store.put("after", "x", kNoExpiry);
  EXPECT_EQ(store.get("after"), "x");

  // The reserve survives a cycle: filled again, the store can be emptied again.
  const int again = fill_until_full(store, "b:");
  EXPECT_GT(again, stored / 2);
  EXPECT_EQ(store.flush(), static_cast<std::uint64_t>(again) + 1);
  EXPECT_EQ(store.stats().entries, 0u);
}

TEST_F(FileStoreTest, AFullStoreEmptiesByNamespaceInBatchesOfAnySize) {
  FileStoreOptions o = options();
  o.initial_map_size = 1ull << 20;
  FileStore store(o);
  const FileSizeLimit limit(4ull << 20);
  const int stored = fill_until_full(store, "n:");
  ASSERT_GT(stored, 300);
  // One namespace holding everything: removed completely, whatever batch size that takes.
  EXPECT_EQ(store.erase_prefix("n:"), static_cast<std::uint64_t>(stored));
  EXPECT_EQ(store.stats().entries, 0u);
  EXPECT_EQ(store.stats().bytes, 0u);
}

}  // namespace
}  // namespace cachette::testing
