#pragma once
// An LMDB environment shared with other processes (private to src/file).
//
// Every transaction goes through read() or write(), which hide three things from callers:
//  - map growth: a write that fills the map is aborted, the map doubles and the write
//    runs again (users never see MDB_MAP_FULL);
//  - another process's growth: MDB_MAP_RESIZED makes us adopt the size it recorded;
//  - reader slots: MDB_READERS_FULL first clears the slots of dead processes.
// The callback may therefore run more than once and must only act through its txn.

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "cachette/error.hpp"

namespace cachette::file {

/// Thrown by check() for MDB_MAP_FULL so that write() can grow the map and retry.
struct MapFull {};

/// Throws Error(storage) naming `what` for any LMDB error but MDB_MAP_FULL (MapFull).
void check(int rc, const char* what);

inline MDB_val as_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

class Environment {
 public:
  /// The environment open in this process for `path`, opening it when needed. LMDB must
  /// not open one file twice in a process (closing either would drop the other's locks),
  /// so every FileStore on the same file shares one Environment.
  static std::shared_ptr<Environment> open(const std::string& path, std::uint64_t initial_map_size);

  Environment(const std::string& path, std::uint64_t initial_map_size);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  MDB_dbi entries() const { return entries_; }
  MDB_dbi expiry() const { return expiry_; }
  MDB_dbi meta() const { return meta_; }
  const std::string& path() const { return path_; }
  /// False in a process forked after the environment was opened.
  bool opened_in_this_process() const;
  std::uint64_t map_size() const;

  template <class Fn>
  auto read(Fn&& fn) -> std::invoke_result_t<Fn&, MDB_txn*> {
    for (;;) {
      ensure_same_process();
      std::shared_lock lock(resize_mutex_);
      MDB_txn* txn = nullptr;
      int rc = begin_read(txn);
      if (rc == MDB_MAP_RESIZED) {
        lock.unlock();
        adopt_map_size();
        continue;
      }
      check(rc, "begin a read transaction");
      struct Release {
        Environment* env;
        MDB_txn* txn;
        ~Release() { env->end_read(txn); }
      } release{this, txn};
      return fn(txn);
    }
  }

  template <class Fn>
  auto write(Fn&& fn) -> std::invoke_result_t<Fn&, MDB_txn*> {
    for (;;) {
      ensure_same_process();
      std::uint64_t full_at = 0;
      {
        std::shared_lock lock(resize_mutex_);
        MDB_txn* txn = nullptr;
        int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
        if (rc == MDB_MAP_RESIZED) {
          lock.unlock();
          adopt_map_size();
          continue;
        }
        check(rc, "begin a write transaction");
        try {
          auto result = fn(txn);
          MDB_txn* committing = txn;
          txn = nullptr;
          rc = mdb_txn_commit(committing);  // frees the txn whatever the outcome
          if (rc == 0) return result;
          check(rc, "commit");  // throws; MapFull when the commit itself filled the map
        } catch (const MapFull&) {
          if (txn != nullptr) mdb_txn_abort(txn);
        } catch (...) {
          if (txn != nullptr) mdb_txn_abort(txn);
          throw;
        }
        full_at = mapped_size_;
      }
      grow_map(full_at);
    }
  }

 private:
  void open_databases();
  void ensure_same_process() const;
  int begin_read(MDB_txn*& txn);
  void end_read(MDB_txn* txn);
  void drop_idle_readers();
  void adopt_map_size();
  void grow_map(std::uint64_t full_at);
  void remap(std::uint64_t wanted);  // caller holds resize_mutex_ exclusively

  std::string path_;
  MDB_env* env_ = nullptr;
  MDB_dbi entries_ = 0, expiry_ = 0, meta_ = 0;
  std::uint64_t fork_generation_ = 0;
  std::uint64_t mapped_size_ = 0;   // guarded by resize_mutex_ (written under unique lock)
  std::shared_mutex resize_mutex_;  // shared: any txn; unique: remapping
  std::mutex idle_mutex_;
  std::vector<MDB_txn*> idle_readers_;  // reset read txns keeping their reader slot
};

}  // namespace cachette::file
