// FileStore and the file system: paths it must refuse without touching what is there,
// and processes (fork) sharing or misusing a store.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "cachette/error.hpp"
#include "cachette/file_store.hpp"
#include "test_file_store_fixture.hpp"

namespace cachette::testing {
namespace {

// Opening must fail with Errc::storage and a message naming the path.
void expect_refused(const std::string& path) {
  FileStoreOptions o;
  o.path = path;
  try {
    FileStore store(o);
    FAIL() << "opened " << path;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::storage);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(FileStoreTest, CreatesTheDataAndLockFiles) {
  FileStore store(options());
  store.put("k", "v", kNoExpiry);
  EXPECT_TRUE(std::filesystem::is_regular_file(path_));
  EXPECT_TRUE(std::filesystem::is_regular_file(path_ + "-lock"));
}

TEST_F(FileStoreTest, RefusesAPickleFileAndLeavesItUntouched) {
  // What pickle.dumps({"key": "value"}) writes with protocol 4.
  const std::string pickle(
      "\x80\x04\x95\x12\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x03key\x94\x8c\x05value\x94s.", 29);
  write_file(path_, pickle);
  expect_refused(path_);
  EXPECT_TRUE(read_file(path_) == pickle);
}

TEST_F(FileStoreTest, RefusesRandomBytesAndShortFiles) {
  std::string noise(20'000, '\0');
  for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 7919) % 251);
  write_file(path_, noise);
  expect_refused(path_);
  EXPECT_TRUE(read_file(path_) == noise);
  write_file(path_, "x");
  expect_refused(path_);
  EXPECT_EQ(read_file(path_), "x");
}

TEST_F(FileStoreTest, RefusesAnotherApplicationsLmdbFileAndLeavesItUntouched) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_open(env, path_.c_str(), MDB_NOSUBDIR, 0600), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi dbi = 0;
  ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
  MDB_val k{5, const_cast<char*>("their")}, v{4, const_cast<char*>("data")};
  ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  const std::string before = read_file(path_);
  expect_refused(path_);
  EXPECT_TRUE(read_file(path_) == before) << "the foreign file was modified";
}

TEST_F(FileStoreTest, RefusesBadPaths) {
  expect_refused((dir_ / "missing" / "cache.lmdb").string());
  expect_refused(dir_.string());  // a directory
  write_file(path_, "");
  // A path under a regular file fails for every user, root included (ENOTDIR).
  expect_refused(path_ + "/cache.lmdb");
  expect_refused("/proc/cachette-test.lmdb");  // procfs refuses new files, even to root
  expect_refused("");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "missing"));
}

TEST_F(FileStoreTest, AnEmptyFileBecomesAStore) {
  write_file(path_, "");
  FileStore store(options());
  store.put("k", "v", kNoExpiry);
  EXPECT_EQ(*store.get("k"), "v");
}

// Runs `body` in a forked child; returns its exit status (0 = success).
template <class Body>
int in_child(Body body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 1;
    try {
      code = body();
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST_F(FileStoreTest, AStoreFromBeforeAForkIsRefusedInTheChild) {
  FileStore store(options());
  store.put("k", "v", kNoExpiry);
  const int status = in_child([&] {
    try {
      store.get("k");
    } catch (const Error& e) {
      return e.code() == Errc::storage ? 0 : 3;
    }
    return 4;
  });
  EXPECT_EQ(status, 0);
  EXPECT_EQ(*store.get("k"), "v");  // the parent's store still works
}

TEST_F(FileStoreTest, ProcessesShareOneStore) {
  FileStore store(options());
  store.put("parent", "p", kNoExpiry);
  const int status = in_child([&] {
    FileStore mine(options());  // a child opens its own
    if (mine.get("parent") != "p") return 3;
    for (int i = 0; i < 1000; ++i) mine.put("child" + std::to_string(i), "c", kNoExpiry);
    return 0;
  });
  ASSERT_EQ(status, 0);
  for (int i = 0; i < 1000; i += 111) EXPECT_EQ(store.get("child" + std::to_string(i)), "c");
}

TEST_F(FileStoreTest, AnotherProcessGrowingTheMapIsFollowed) {
  FileStoreOptions o = options();
  o.initial_map_size = 1 << 20;
  FileStore store(o);
  store.put("first", "v", kNoExpiry);
  const int status = in_child([&] {
    FileStore mine(o);
    const std::string value(50'000, 'g');
    for (int i = 0; i < 400; ++i) mine.put("grown" + std::to_string(i), value, kNoExpiry);
    return mine.map_size() > (1u << 20) ? 0 : 3;
  });
  ASSERT_EQ(status, 0);
  // Our map is still the initial one: reads and writes must adopt the child's size.
  EXPECT_EQ(store.get("grown399")->size(), 50'000u);
  store.put("after", "v", kNoExpiry);
  EXPECT_GT(store.map_size(), 1u << 20);
  EXPECT_EQ(store.stats().entries, 402u);
}

}  // namespace
}  // namespace cachette::testing
