// A store file cut short while it is mapped (issue 19, item 8): the access that meets a page
// past the new end raises SIGBUS, which must cost one operation an Error(storage), never the
// process; the next operation opens the store again, the cut file moved aside.

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

#include "cachette/error.hpp"
#include "test_file_store_fixture.hpp"

namespace cachette::testing {
namespace {

int moved_aside(const std::filesystem::path& dir) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".damaged-") != std::string::npos && !name.ends_with("-lock")) ++n;
  }
  return n;
}

// Fills the store and reads it once, as a store in use would have: its read transaction is
// then pooled, and the fault meets it in mdb_txn_renew. (A fault inside mdb_txn_begin, with
// no pooled reader, leaks the transaction LMDB was creating, 381 bytes: documented.)
void fill(FileStore& store) {
  const std::string value(2000, 'v');
  for (int i = 0; i < 2000; ++i) store.put("k" + std::to_string(i), value, kNoExpiry);
  EXPECT_TRUE(store.get("k0"));
}

void expect_storage_error(const std::function<void()>& operation) {
  try {
    operation();
    ADD_FAILURE() << "no error after the file was cut";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::storage) << e.what();
    EXPECT_NE(std::string(e.what()).find("SIGBUS"), std::string::npos) << e.what();
  }
}

TEST_F(FileStoreTest, AStoreTruncatedUnderItsMapFailsOneReadThenReopens) {
  FileStore store(options());
  fill(store);
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  expect_storage_error([&] { store.get("k1"); });
  // The process is alive; the next operation opens a fresh store at the path.
  EXPECT_FALSE(store.get("k1"));
  store.put("after", "x", kNoExpiry);
  EXPECT_EQ(store.get("after"), "x");
  EXPECT_EQ(moved_aside(dir_), 1);
  // Another store on the path sees the same fresh store.
  FileStore other(options());
  EXPECT_EQ(other.get("after"), "x");
}

TEST_F(FileStoreTest, AStoreCutToItsMetaPagesFailsOneWriteThenReopens) {
  FileStore store(options());
  fill(store);
  // The meta pages stay, every page of the tree is gone: the write faults inside the tree.
  ASSERT_EQ(::truncate(path_.c_str(), 2 * 4096), 0);
  expect_storage_error([&] { store.put("k5", "new", kNoExpiry); });
  store.put("k5", "new", kNoExpiry);
  EXPECT_EQ(store.get("k5"), "new");
  EXPECT_FALSE(store.get("k6"));
}

TEST_F(FileStoreTest, ATruncatedStoreIsLeftInPlaceWhenStrict) {
  FileStoreOptions o = options();
  o.strict = true;
  FileStore store(o);
  fill(store);
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  expect_storage_error([&] { store.get("k1"); });
  try {
    store.get("k1");
    ADD_FAILURE() << "a strict store was reopened";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::storage);
  }
  EXPECT_EQ(moved_aside(dir_), 0);
}

}  // namespace
}  // namespace cachette::testing
