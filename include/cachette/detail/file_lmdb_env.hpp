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
//  - reader slots: MDB_READERS_FULL first clears the slots of dead processes;
//  - a file cut short under its map (SIGBUS): every LMDB call runs guarded (see
//    file_fault_guard.hpp); the operation fails with Error(storage) and the next one
//    reopens the store, the cut file moved aside.
// The callback may therefore run more than once and must only act through its txn; if the
// file is cut under it, it is abandoned where it stands (its destructors do not run).
// Callbacks may throw C++ exceptions as usual.

#include <lmdb.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "cachette/detail/file_fault_guard.hpp"
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
  std::uint64_t map_size();
  /// True once an operation found the file damaged; every later call throws.
  bool damaged() const { return damaged_.load(std::memory_order_relaxed); }
  /// What opening had to do about a damaged file (empty when nothing); returned once.
  std::string take_recovery_note();

  template <class Fn>
  auto read(Fn&& fn) -> std::invoke_result_t<Fn&, MDB_txn*> {
    using Result = std::invoke_result_t<Fn&, MDB_txn*>;
    for (;;) {
      ensure_same_process();
      ensure_usable();
      std::shared_lock lock(resize_mutex_);
      MDB_txn* txn = nullptr;
      int rc = 0;
      std::optional<Result> out;
      std::exception_ptr error;
      auto body = [&] {
        rc = begin_read(txn);
        if (rc != 0) return;
        try {
          out.emplace(fn(txn));
        } catch (...) {
          error = std::current_exception();
        }
        end_read(txn);
        txn = nullptr;
      };
      if (faulted_.load(std::memory_order_acquire)) continue;  // reopen first
      if (!guarded(body)) lost_map(txn);
      if (rc == MDB_MAP_RESIZED) {
        lock.unlock();
        adopt_map_size();
        continue;
      }
      check(rc, "begin a read transaction");
      if (error) rethrow_noting_damage(error);
      return std::move(*out);
    }
  }

  /// A write transaction. `stored_bytes` > 0: the write stores about that many bytes and must
  /// leave the reserve alone (it grows the map first, or, when the map cannot grow, runs only
  /// if free pages remain beside the reserve; else Error(store_full)). 0: the write only
  /// removes (or is tiny) and may use the reserve.
  template <class Fn>
  auto write(Fn&& fn, std::uint64_t stored_bytes = 0) -> std::invoke_result_t<Fn&, MDB_txn*> {
    using Result = std::invoke_result_t<Fn&, MDB_txn*>;
    bool room_checked = stored_bytes == 0;
    for (;;) {
      ensure_same_process();
      ensure_usable();
      std::uint64_t full_at = 0;
      bool short_of_room = false;
      bool map_full = false;
      {
        std::shared_lock lock(resize_mutex_);
        MDB_txn* txn = nullptr;
        int begin_rc = 0, commit_rc = 0;
        std::optional<Result> out;
        std::exception_ptr error;
        auto body = [&] {
          begin_rc = mdb_txn_begin(env_, nullptr, 0, &txn);
          if (begin_rc != 0) {
            txn = nullptr;
            return;
          }
          if (!room_checked && !tail_has_room(stored_bytes)) {
            short_of_room = true;
          } else {
            try {
              out.emplace(fn(txn));
              MDB_txn* committing = std::exchange(txn, nullptr);
              commit_rc = mdb_txn_commit(committing);  // frees the txn whatever the outcome
            } catch (const MapFull&) {
              map_full = true;
            } catch (...) {
              error = std::current_exception();
            }
          }
          if (txn != nullptr) mdb_txn_abort(std::exchange(txn, nullptr));
        };
        if (faulted_.load(std::memory_order_acquire)) continue;  // reopen first
        if (!guarded(body)) lost_write();
        if (begin_rc == MDB_MAP_RESIZED) {
          lock.unlock();
          adopt_map_size();
          continue;
        }
        check(begin_rc, "begin a write transaction");
        if (error) rethrow_noting_damage(error);
        if (commit_rc == MDB_MAP_FULL) {
          map_full = true;
        } else if (commit_rc != 0) {
          try {
            check(commit_rc, "commit");
          } catch (const Damaged& e) {
            mark_damaged(e);
            throw;
          }
        } else if (!short_of_room && !map_full) {
          return std::move(*out);
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
  /// Opens the file (moving a damaged one aside), then the databases.
  void open_environment();
  /// Closes the LMDB environment, guarded (a fault leaks what is left of it).
  void close_environment();
  /// After a SIGBUS: marks the environment for reopening and fails the operation. A read
  /// transaction is aborted (guarded); none is when `txn` is null.
  [[noreturn]] void lost_map(MDB_txn* txn);
  /// lost_map() for a write transaction, which must not be aborted: LMDB links cursors on
  /// its own stack into the transaction while it works, and the abort would free() them.
  /// The transaction is left to the old environment; the writer lock it holds in the shared
  /// lock file is released directly (see locate_writer_mutex), so that other processes
  /// waiting to write are not blocked forever.
  [[noreturn]] void lost_write();
  /// Finds LMDB's writer mutex in the lock file while this thread holds it (inside the
  /// first write transaction), checking LMDB's magic and that the mutex there is owned by
  /// this thread; leaves writer_mutex_ null when anything does not match.
  void locate_writer_mutex();
  /// Reopens after lost_map(): the cut file is moved aside (refused with `strict`) unless
  /// another process did so already, and a fresh store is opened at the path.
  void recover();
  [[noreturn]] void rethrow_noting_damage(const std::exception_ptr& error);
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
  std::uint64_t initial_map_size_;
  bool strict_;
  MDB_env* env_ = nullptr;  // replaced by recover() under resize_mutex_ held exclusively
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
  std::atomic<bool> faulted_{false};         // SIGBUS seen: the next operation reopens
  int lock_fd_ = -1;                         // our descriptor of the lock file, for lock_map_
  void* lock_map_ = nullptr;                 // our own mapping of the lock file's first page
  pthread_mutex_t* writer_mutex_ = nullptr;  // LMDB's writer mutex inside lock_map_
  std::atomic<bool> map_lost_{false};        // a remap failed half-way: LMDB's map address dangles
  std::string damage_;                       // guarded by idle_mutex_: why damaged_ was set
  std::string recovery_note_;                // guarded by idle_mutex_ after construction
};

}  // namespace cachette::file
