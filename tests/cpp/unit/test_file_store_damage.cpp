// FileStore and files it must not trust: truncated or corrupted stores (never a crash: moved
// aside with a fresh store, or refused when strict), and stores another user could have
// written (refused, untouched). Regression tests of issue 11, items 1, 2 and 6.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cachette/error.hpp"
#include "cachette/file_store.hpp"
#include "test_file_store_fixture.hpp"

namespace cachette::testing {
namespace {

class FileStoreDamageTest : public FileStoreTest {
 protected:
  void fill(int entries) {
    FileStore store(options());
    for (int i = 0; i < entries; ++i) {
      store.put("ns:" + std::to_string(i), std::string(200, 'x'), kNoExpiry);
    }
  }
  void zero(std::uint64_t offset, std::size_t size) {
    const int fd = ::open(path_.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const std::vector<char> zeros(size, 0);
    ASSERT_EQ(::pwrite(fd, zeros.data(), size, static_cast<off_t>(offset)),
              static_cast<ssize_t>(size));
    ::close(fd);
  }
  std::vector<std::string> moved_aside() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name.find(".damaged-") != std::string::npos && !name.ends_with("-lock")) {
        out.push_back(e.path().string());
      }
    }
    return out;
  }
  // Opening a damaged store starts a fresh one, keeps the damaged file aside, and says so.
  void expect_recovered() {
    FileStore store(options());
    EXPECT_NE(store.recovery_note().find("moved to"), std::string::npos) << store.recovery_note();
    EXPECT_EQ(store.stats().entries, 0u);
    EXPECT_FALSE(store.get("ns:1").has_value());
    store.put("after", "works", kNoExpiry);
    EXPECT_EQ(store.get("after"), std::optional<std::string>("works"));
    EXPECT_EQ(moved_aside().size(), 1u);
  }
  void expect_refused_with(const std::string& needle, FileStoreOptions o) {
    try {
      FileStore store(o);
      FAIL() << "opened " << o.path;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::storage);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
};

TEST_F(FileStoreDamageTest, ATruncatedStoreNeverCrashesAndIsReplacedByAFreshOne) {
  fill(3000);
  std::filesystem::resize_file(path_, 8192);
  expect_recovered();
}

TEST_F(FileStoreDamageTest, AStoreCutFrom64MiBTo1MiBIsReplacedByAFreshOne) {
  {
    FileStore store(options());
    for (int i = 0; i < 8000; ++i) store.put("k" + std::to_string(i), std::string(900, 'v'), -1);
  }
  ASSERT_GT(std::filesystem::file_size(path_), 4u << 20);
  std::filesystem::resize_file(path_, 1u << 20);
  expect_recovered();
}

TEST_F(FileStoreDamageTest, ZeroedPagesInTheMiddleAreFoundAtOpenNotByAnAssertion) {
  fill(3000);
  zero(64 * 1024, 256 * 1024);
  expect_recovered();
}

TEST_F(FileStoreDamageTest, ADamagedMetaPageIsReplacedByAFreshStore) {
  fill(100);
  zero(4096, 4096);  // the second meta page; the first keeps the LMDB magic
  expect_recovered();
}

// Found by fuzz_file_format: a last page near 2^64 made the page count wrap around to a
// small size, passed the truncation check and sent the page walk out of bounds.
TEST_F(FileStoreDamageTest, AMetaPageClaimingPagesBeyond2To64IsReplacedByAFreshStore) {
  for (const std::uint64_t last_page : {~std::uint64_t{0}, (~std::uint64_t{0} >> 12) + 1}) {
    fill(100);
    const int fd = ::open(path_.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    for (const off_t meta : {off_t{0}, off_t{4096}}) {  // mm_last_pg in both meta pages
      ASSERT_EQ(::pwrite(fd, &last_page, sizeof last_page, meta + 136), 8);
    }
    ::close(fd);
    expect_recovered();
    for (const auto& aside : moved_aside()) std::filesystem::remove(aside);
  }
}

TEST_F(FileStoreDamageTest, StrictRefusesADamagedStoreAndLeavesItUntouched) {
  fill(3000);
  std::filesystem::resize_file(path_, 8192);
  const std::string before = read_file(path_);
  FileStoreOptions o = options();
  o.strict = true;
  expect_refused_with("is damaged", o);
  EXPECT_EQ(read_file(path_), before);
  EXPECT_TRUE(moved_aside().empty());
}

TEST_F(FileStoreDamageTest, AHealthyStoreIsNotMovedAside) {
  fill(3000);
  FileStore store(options());
  EXPECT_TRUE(store.recovery_note().empty());
  EXPECT_EQ(store.stats().entries, 3000u);
  EXPECT_TRUE(moved_aside().empty());
}

TEST_F(FileStoreDamageTest, AStoreWritableByOthersIsRefused) {
  fill(10);
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  expect_refused_with("writable by other users", options());
  ASSERT_EQ(::chmod(path_.c_str(), 0620), 0);
  expect_refused_with("writable by other users", options());
}

TEST_F(FileStoreDamageTest, AStoreOwnedByAnotherUserIsRefused) {
  fill(10);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path_.c_str(), 65534, 65534), 0);
    expect_refused_with("belongs to another user", options());
  } else {
    // Only root can give a file away; a file we cannot open for writing fails to open.
    ASSERT_EQ(::chmod(path_.c_str(), 0400), 0);
    expect_refused_with(path_, options());
  }
}

TEST_F(FileStoreDamageTest, ALockFileWritableByOthersIsRefused) {
  fill(10);
  ASSERT_EQ(::chmod((path_ + "-lock").c_str(), 0666), 0);
  expect_refused_with("lock file", options());
}

TEST_F(FileStoreDamageTest, ASymlinkedLockFileIsRefusedAndItsTargetUntouched) {
  const std::string victim = (dir_ / "victim.txt").string();
  write_file(victim, "precious\n");
  std::filesystem::create_symlink(victim, path_ + "-lock");
  expect_refused_with("symbolic link", options());
  EXPECT_EQ(read_file(victim), "precious\n");
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(FileStoreDamageTest, ADanglingSymlinkedLockFileCreatesNothing) {
  const std::string target = (dir_ / "created-by-lmdb").string();
  std::filesystem::create_symlink(target, path_ + "-lock");
  expect_refused_with("symbolic link", options());
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST_F(FileStoreDamageTest, ASymlinkedDataFileIsRefusedAndItsTargetUntouched) {
  const std::string victim = (dir_ / "victim.txt").string();
  write_file(victim, "precious\n");
  std::filesystem::create_symlink(victim, path_);
  expect_refused_with("symbolic link", options());
  EXPECT_EQ(read_file(victim), "precious\n");
  const std::string missing = (dir_ / "missing-target").string();
  const std::string other = (dir_ / "other.lmdb").string();
  std::filesystem::create_symlink(missing, other);
  FileStoreOptions o = options();
  o.path = other;
  expect_refused_with("symbolic link", o);
  EXPECT_FALSE(std::filesystem::exists(missing));
}

}  // namespace
}  // namespace cachette::testing
