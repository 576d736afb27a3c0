#pragma once
// Shared by the file store tests: a fresh directory per test, removed afterwards.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "cachette/file_store.hpp"

namespace cachette::testing {

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cachette-file-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "cache.lmdb").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  /// Every store a test opens reads this manual clock: expiry is exercised by advancing it,
  /// never by sleeping. It starts at the real wall-clock time, so entries stay comparable
  /// with any store opened on the same path with the default clock.
  FileStoreOptions options(std::uint64_t max_size = 0) const {
    FileStoreOptions o;
    o.path = path_;
    o.max_size = max_size;
    o.clock = [now = now_ms_] { return now->load(); };
    return o;
  }
  void advance(std::chrono::milliseconds by) { *now_ms_ += by.count(); }

  std::shared_ptr<std::atomic<std::int64_t>> now_ms_ = std::make_shared<std::atomic<std::int64_t>>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());

  static std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }

  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace cachette::testing
