#pragma once
/// The file store: one LMDB environment shared by every process on the host that opens
/// the same path. Entries carry an absolute wall-clock expiry, so processes agree on it.
/// See docs/file-backend.md for the file layout, key mapping and durability guarantees.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cachette/options.hpp"
#include "cachette/store.hpp"

namespace cachette {

struct FileStoreOptions {
  /// The data file; LMDB's lock file is `path + "-lock"`. Created when absent.
  std::string path;
  /// Bytes charged for keys, values and per-entry overhead before eviction of the entries
  /// that expire soonest starts (default 1 GiB; 0 = unlimited).
  std::uint64_t max_size = kDefaults.file_max_size;
  /// Address space mapped at first; the map doubles whenever it fills.
  std::uint64_t initial_map_size = kDefaults.file_initial_map_size;
  /// What to do with a damaged store (truncated, or pages that do not hold a valid B-tree):
  /// false (default) moves it aside to `<path>.damaged-<time>-<pid>` and starts a fresh,
  /// empty store (see recovery_note()); true refuses it with Error(storage), untouched.
  bool strict = false;
  /// Wall-clock milliseconds since the Unix epoch for expiry; empty = CLOCK_REALTIME. Expiry
  /// is absolute so that processes agree on it: every process sharing a path must use the
  /// same clock. Tests inject a manual clock so that expiry is exercised without sleeping.
  std::function<std::int64_t()> clock;
};

/// Throws Error(storage) from the constructor when the path cannot be opened, holds
/// something other than a cachette file store (the file is then left untouched), or could
/// have been written by another user (owned by someone else, writable by group or others,
/// or a symbolic link, for the data and the lock file alike). A store found damaged while in
/// use is no longer touched by this process: every call throws Error(storage) until it is
/// opened again (which moves it aside, or refuses it when strict).
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

  /// Stores the entry only when `key` holds no live entry, checked and written in one LMDB
  /// write transaction: of several processes racing on one key, exactly one succeeds.
  /// Returns true when it stored. Throws as put() does for bad arguments.
  bool add(std::string_view key, std::string_view value, std::int64_t ttl_ms);
  /// Removes `key` only while its live entry holds exactly `value`, in one write
  /// transaction (a lock is released by the owner of its token only). True when removed.
  bool erase_if_equal(std::string_view key, std::string_view value);

  /// Bytes currently mapped by this process (grows as the store fills).
  std::uint64_t map_size() const;

  /// When opening moved a damaged store aside: what was wrong and where it went (for a
  /// warning in the application's log); empty otherwise.
  const std::string& recovery_note() const;

 private:
  bool write_entry(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                   bool only_if_absent);

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cachette
