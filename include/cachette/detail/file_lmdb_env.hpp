#pragma once
// An LMDB environment shared with other processes (private to src/file).
//
// Every transaction goes through read() or write(), which hide four things from callers:
//  - map growth: a write that fills the map is aborted, the map grows and the write
//    runs again (users never see MDB_MAP_FULL);
//  - a reserve at the end of the map that writes storing data never take, so that
//    removing entries (which needs free pages: LMDB copies on write) works on a full disk;
//    a store that can neither grow nor keep its reserve refuses with Error(store_full);
//  - another process's growth: MDB_MAP_RESIZED makes us adopt the size it recorded;
//  - reader slots: MDB_READERS_FULL first clears the slots of dead processes.
// The callback may therefore run more than once and must only act through its txn.

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "cachette/error.hpp"

namespace cachette::file {

/// Thrown by check() for MDB_MAP_FULL so that write() can grow the map and retry.
struct MapFull {};

/// Thrown by check() for errors that mean the file is damaged; the environment that sees
/// one stops using the file (LMDB could trip an assertion on it and abort the process).
struct Damaged : Error {
  explicit Damaged(const std::string& message) : Error(Errc::storage, message) {}
};

/// Throws Error(storage) naming `what` for any LMDB error but MDB_MAP_FULL (MapFull), and
/// Damaged for those that mean a damaged file.
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
  /// A damaged file is moved aside and replaced by a fresh store, or refused (Error(storage))
  /// when `strict`; see docs/file-backend.md.
  static std::shared_ptr<Environment> open(const std::string& path, std::uint64_t initial_map_size,
                                           bool strict = false);

  Environment(const std::string& path, std::uint64_t initial_map_size, bool strict = false);
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
  /// True once an operation found the file damaged; every later call throws.
  bool damaged() const { return damaged_.load(std::memory_order_relaxed); }
  /// What opening had to do about a damaged file (empty when nothing); returned once.
  std::string take_recovery_note();

  template <class Fn>
  auto read(Fn&& fn) -> std::invoke_result_t<Fn&, MDB_txn*> {
    for (;;) {
      ensure_same_process();
      ensure_usable();
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
      try {
        return fn(txn);
      } catch (const Damaged& e) {
        mark_damaged(e);
        throw;
      }
    }
  }

  /// A write transaction. `stored_bytes` > 0: the write stores about that many bytes and must
  /// leave the reserve alone (it grows the map first, or, when the map cannot grow, runs only
  /// if free pages remain beside the reserve; else Error(store_full)). 0: the write only
  /// removes (or is tiny) and may use the reserve.
  template <class Fn>
  auto write(Fn&& fn, std::uint64_t stored_bytes = 0) -> std::invoke_result_t<Fn&, MDB_txn*> {
    bool room_checked = stored_bytes == 0;
    for (;;) {
      ensure_same_process();
      ensure_usable();
      std::uint64_t full_at = 0;
      bool short_of_room = false;
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
        if (!room_checked && !tail_has_room(stored_bytes)) {
          mdb_txn_abort(txn);
          short_of_room = true;
        } else {
          try {
            auto result = fn(txn);
            MDB_txn* committing = txn;
            txn = nullptr;
            rc = mdb_txn_commit(committing);  // frees the txn whatever the outcome
            if (rc == 0) return result;
            check(rc, "commit");  // throws; MapFull when the commit itself filled the map
          } catch (const MapFull&) {
            if (txn != nullptr) mdb_txn_abort(txn);
          } catch (const Damaged& e) {
            if (txn != nullptr) mdb_txn_abort(txn);
            mark_damaged(e);
            throw;
          } catch (...) {
            if (txn != nullptr) mdb_txn_abort(txn);
            throw;
          }
        }
        full_at = mapped_size_;
      }
      if (short_of_room) {
        room_checked = !make_room(full_at, stored_bytes);
        continue;
      }
      grow_map(full_at);
    }
  }

 private:
  bool open_checked(std::uint64_t initial_map_size, bool strict);
  std::optional<std::string> find_stable_damage(int fd, bool walk_pages) const;
  void move_aside(const std::string& damage);
  void open_databases();
  void ensure_same_process() const;
  void ensure_usable();
  void mark_damaged(const Damaged& e);
  int begin_read(MDB_txn*& txn);
  void end_read(MDB_txn* txn);
  void drop_idle_readers();
  void adopt_map_size();
  /// Grows the map past `full_at` (unless another thread did); Error(store_full) when the
  /// file system has no room for any step.
  void grow_map(std::uint64_t full_at);
  /// Pages at the end of the map kept for writes that remove: what a flush of a full map
  /// needs (its list of freed pages) with a margin.
  std::uint64_t reserve_pages() const;
  /// Inside a write transaction: whether the map's tail holds the reserve plus `stored_bytes`.
  bool tail_has_room(std::uint64_t stored_bytes);
  /// The tail was short: grows the map (true: check again), or, when it cannot grow, returns
  /// false to let the write use free pages inside the map when there are enough beside the
  /// reserve; throws Error(store_full) when there are not.
  bool make_room(std::uint64_t full_at, std::uint64_t stored_bytes);
  /// Pages on LMDB's free list (freed by earlier transactions, reused before the tail).
  std::uint64_t free_list_pages();
  void remap(std::uint64_t wanted);  // caller holds resize_mutex_ exclusively

  std::string path_;
  MDB_env* env_ = nullptr;
  MDB_dbi entries_ = 0, expiry_ = 0, meta_ = 0;
  std::uint64_t fork_generation_ = 0;
  std::uint64_t mapped_size_ = 0;  // guarded by resize_mutex_ (written under unique lock)
  std::uint64_t page_size_ = 4096;
  // Steady-clock nanoseconds before which growing is not tried again after the file system
  // refused it (a full disk is not asked again on every write).
  std::atomic<std::int64_t> no_growth_until_{0};
  std::shared_mutex resize_mutex_;  // shared: any txn; unique: remapping
  std::mutex idle_mutex_;
  std::vector<MDB_txn*> idle_readers_;  // reset read txns keeping their reader slot
  std::atomic<bool> damaged_{false};
  std::atomic<bool> map_lost_{false};  // a remap failed half-way: LMDB's map address dangles
  std::string damage_;                 // guarded by idle_mutex_: why damaged_ was set
  std::string recovery_note_;          // guarded by idle_mutex_ after construction
};

}  // namespace cachette::file
