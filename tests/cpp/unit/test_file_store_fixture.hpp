#pragma once
// Shared by the file store tests: a fresh directory per test, removed afterwards.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
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

  FileStoreOptions options(std::uint64_t max_size = 0) const {
    FileStoreOptions o;
    o.path = path_;
    o.max_size = max_size;
    return o;
  }

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
