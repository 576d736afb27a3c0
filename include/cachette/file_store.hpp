#pragma once
/// The file store: one LMDB environment shared by every process on the host that opens
/// the same path. Entries carry an absolute wall-clock expiry, so processes agree on it.
/// See docs/file-backend.md for the file layout, key mapping and durability guarantees.

#include <cstdint>
#include <memory>
#include <string>

#include "cachette/store.hpp"

namespace cachette {

struct FileStoreOptions {
  /// The data file; LMDB's lock file is `path + "-lock"`. Created when absent.
  std::string path;
  /// Bytes charged for keys, values and per-entry overhead before eviction of the entries
  /// that expire soonest starts (0 = unlimited).
  std::uint64_t max_size = 0;
  /// Address space mapped at first; the map doubles whenever it fills.
  std::uint64_t initial_map_size = 64ull << 20;
};

/// Throws Error(storage) from the constructor when the path cannot be opened, or holds
/// something other than a cachette file store (the file is then left untouched).
/// A FileStore must not be used in a process forked after it was opened: every call there
/// throws Error(storage), and destroying it there releases nothing of the parent's.
class FileStore final : public Store {
 public:
  explicit FileStore(const FileStoreOptions& options);
  ~FileStore() override;
  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  bool visit(std::string_view key, Sink sink, void* context) override;
  void put(std::string_view key, std::string_view value, std::int64_t ttl_ms) override;
  std::uint64_t erase(std::string_view key) override;
  std::uint64_t erase_prefix(std::string_view prefix) override;
  std::uint64_t flush() override;
  std::uint64_t flush_expired() override;
  StoreStats stats() const override;

  /// Bytes currently mapped by this process (grows as the store fills).
  std::uint64_t map_size() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cachette
