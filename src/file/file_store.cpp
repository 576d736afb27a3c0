// FileStore: entries, an expiry index and a byte counter in one LMDB environment.
// Every change to an entry updates all three in the same write transaction, so the
// index and the counter never disagree with the entries another process sees.

#include "cachette/file_store.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>

#include "cachette/detail/file_format.hpp"
#include "cachette/detail/file_lmdb_env.hpp"

namespace cachette {

using file::as_val;
using file::as_view;
using file::check;

namespace {

// Long sweeps (flush_expired, erase_prefix) commit every kBatch entries so that writers
// in other processes are never kept waiting for long.
constexpr std::size_t kBatch = 1024;
// A put reclaims up to this many expired entries, so a store nobody sweeps stays small.
constexpr int kReclaimPerPut = 2;

struct Removed {
  std::uint64_t live = 0;
  std::uint64_t expired = 0;
  std::uint64_t evicted = 0;
  bool done = true;
  bool written = true;  ///< false when add() found a live entry and wrote nothing
};

class Txn {
 public:
  Txn(MDB_txn* txn, const file::Environment& env) : txn_(txn), env_(env) {}

  std::uint64_t bytes() const {
    MDB_val k = as_val("bytes"), v;
    int rc = mdb_get(txn_, env_.meta(), &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    check(rc, "read the byte counter");
    std::uint64_t out = 0;
    if (v.mv_size == sizeof out) std::memcpy(&out, v.mv_data, sizeof out);
    return out;
  }

  void set_bytes(std::uint64_t value) {
    MDB_val k = as_val("bytes"), v{sizeof value, &value};
    check(mdb_put(txn_, env_.meta(), &k, &v, 0), "write the byte counter");
  }

  /// Removes the index entry of the record `old` stored under `stored`; returns its charge.
  std::uint64_t unindex(std::string_view stored, const MDB_val& old) {
    const std::uint64_t charge = file::entry_charge(stored.size(), old.mv_size);
    if (auto record = file::read_record(as_view(old))) {
      const std::string ekey = file::expiry_key(record->expires_ms, stored);
      MDB_val k = as_val(ekey);
      int rc = mdb_del(txn_, env_.expiry(), &k, nullptr);
      if (rc != MDB_NOTFOUND) check(rc, "unindex an entry");
    }
    return charge;
  }

  /// Removes the entry an index key points to when it still carries that expiry; returns
  /// its charge, or 0 for an index entry left behind by a damaged record.
  std::uint64_t remove_indexed(std::int64_t expires_ms, const std::string& stored) {
    MDB_val k = as_val(stored), v;
    int rc = mdb_get(txn_, env_.entries(), &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    check(rc, "read an entry");
    auto record = file::read_record(as_view(v));
    if (record && record->expires_ms != expires_ms) return 0;
    const std::uint64_t charge = file::entry_charge(stored.size(), v.mv_size);
    check(mdb_del(txn_, env_.entries(), &k, nullptr), "remove an entry");
    return charge;
  }

  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_;
  const file::Environment& env_;
};

class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) { check(mdb_cursor_open(txn, dbi, &cursor_), "open a cursor"); }
  ~Cursor() { mdb_cursor_close(cursor_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  /// True when positioned on an entry; false at the end.
  bool move(MDB_cursor_op op) {
    int rc = mdb_cursor_get(cursor_, &key_, &value_, op);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "move a cursor");
    return true;
  }
  bool seek(std::string_view at) {
    if (at.empty()) return move(MDB_FIRST);
    key_ = as_val(at);
    return move(MDB_SET_RANGE);
  }
  void erase() { check(mdb_cursor_del(cursor_, 0), "remove an entry"); }
  std::string_view key() const { return as_view(key_); }
  const MDB_val& value() const { return value_; }

 private:
  MDB_cursor* cursor_ = nullptr;
  MDB_val key_{}, value_{};
};

// A sweep batch refused for want of free pages (Error(store_full): the map is full and cannot
// grow) is retried smaller: each committed batch frees pages for the next. False when the
// error is another one, or a batch of one entry was refused already.
bool smaller_batch(const Error& e, std::size_t& batch) {
  if (e.code() != Errc::store_full || batch == 1) return false;
  batch = std::max<std::size_t>(1, batch / 8);
  return true;
}

std::uint64_t saturating_sub(std::uint64_t a, std::uint64_t b) {
  return a > b ? a - b : 0;
}

}  // namespace

struct FileStore::State {
  explicit State(const FileStoreOptions& options)
      : shared_env(file::Environment::open(options.path, options.initial_map_size, options.strict)),
        env(*shared_env),
        max_size(options.max_size),
        clock(options.clock ? options.clock : std::function<std::int64_t()>(file::realtime_ms)),
        recovery_note(env.take_recovery_note()) {}

  std::shared_ptr<file::Environment> shared_env;
  file::Environment& env;
  std::uint64_t max_size;
  std::function<std::int64_t()> clock;
  std::string recovery_note;
  std::atomic<std::uint64_t> hits{0}, misses{0}, evictions{0}, expirations{0};

  void count(const Removed& r) {
    if (r.expired) expirations.fetch_add(r.expired, std::memory_order_relaxed);
    if (r.evicted) evictions.fetch_add(r.evicted, std::memory_order_relaxed);
  }
};

FileStore::FileStore(const FileStoreOptions& options) : state_(std::make_unique<State>(options)) {}

FileStore::~FileStore() = default;

std::uint64_t FileStore::map_size() const {
  return state_->env.map_size();
}

const std::string& FileStore::recovery_note() const {
  return state_->recovery_note;
}

bool FileStore::visit(std::string_view key, Sink sink, void* context) {
  State& s = *state_;
  std::string hashed;
  std::string_view stored = key;
  if (key.size() > file::kDirectKeyMax || key.empty()) stored = hashed = file::stored_key(key);
  const bool hit = s.env.read([&](MDB_txn* txn) {
    MDB_val k = as_val(stored), v;
    int rc = mdb_get(txn, s.env.entries(), &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "read an entry");
    auto record = file::read_record(as_view(v));
    if (!record || !file::record_matches(stored, *record, key)) return false;
    const std::int64_t now = s.clock();
    if (record->expires_ms <= now) return false;
    const std::int64_t ttl =
        record->expires_ms == file::kNever ? kNoExpiry : record->expires_ms - now;
    sink(context, record->value, ttl, std::max<std::int64_t>(0, now - record->written_ms));
    return true;
  });
  (hit ? s.hits : s.misses).fetch_add(1, std::memory_order_relaxed);
  return hit;
}

void FileStore::put(std::string_view key, std::string_view value, std::int64_t ttl_ms) {
  write_entry(key, value, ttl_ms, false);
}

bool FileStore::add(std::string_view key, std::string_view value, std::int64_t ttl_ms) {
  return write_entry(key, value, ttl_ms, true);
}

bool FileStore::write_entry(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                            bool only_if_absent) {
  State& s = *state_;
  if (ttl_ms <= 0 && ttl_ms != kNoExpiry) {
    throw Error(
        Errc::invalid_argument,
        "file store: ttl_ms must be positive or kNoExpiry (-1), got " + std::to_string(ttl_ms));
  }
  if (value.size() > file::kMaxValueSize) {
    throw Error(Errc::value_too_large, "file store: values are limited to " +
                                           std::to_string(file::kMaxValueSize) + " bytes, got " +
                                           std::to_string(value.size()));
  }
  const std::string stored = file::stored_key(key);
  const std::size_t size = file::record_size(key, value);
  const std::uint64_t charge = file::entry_charge(stored.size(), size);
  if (s.max_size != 0 && charge > s.max_size) {
    throw Error(Errc::value_too_large, "file store: an entry of " + std::to_string(charge) +
                                           " bytes can never fit within pickle_max_size (" +
                                           std::to_string(s.max_size) + " bytes)");
  }
  const std::int64_t now = s.clock();
  const std::int64_t expires =
      ttl_ms == kNoExpiry ? file::kNever : now + std::min(ttl_ms, file::kNever - 1 - now);
  const std::string ekey = file::expiry_key(expires, stored);

  Removed removed = s.env.write(
      [&](MDB_txn* raw) {
        Txn txn(raw, s.env);
        Removed out;
        std::uint64_t bytes = txn.bytes();
        MDB_val k = as_val(stored), v;
        int rc = mdb_get(raw, s.env.entries(), &k, &v);
        if (rc == 0 && only_if_absent) {
          // An expired entry, or one left by another key sharing this hash, counts as absent.
          auto record = file::read_record(as_view(v));
          if (record && file::record_matches(stored, *record, key) && record->expires_ms > now) {
            out.written = false;
            return out;
          }
        }
        if (rc == 0) {
          bytes = saturating_sub(bytes, txn.unindex(stored, v));
        } else if (rc != MDB_NOTFOUND) {
          check(rc, "read an entry");
        }
        v = MDB_val{size, nullptr};
        check(mdb_put(raw, s.env.entries(), &k, &v, MDB_RESERVE), "store an entry");
        file::write_record(static_cast<char*>(v.mv_data), key, value, expires, now);
        MDB_val ek = as_val(ekey), empty{0, nullptr};
        check(mdb_put(raw, s.env.expiry(), &ek, &empty, 0), "index an entry");
        bytes += charge;

        // Reclaim a few expired entries, then evict what expires soonest while over budget.
        Cursor index(raw, s.env.expiry());
        int reclaim = kReclaimPerPut;
        for (bool at = index.move(MDB_FIRST); at; at = index.move(MDB_NEXT)) {
          auto split = file::split_expiry_key(index.key());
          const bool over = s.max_size != 0 && bytes > s.max_size;
          if (!split) {
            index.erase();
            continue;
          }
          const bool expired = split->first <= now;
          if (!over && (!expired || reclaim == 0)) break;
          if (index.key() == ekey) continue;  // never evict the entry being written
          const std::int64_t when = split->first;
          const std::string victim(split->second);
          bytes = saturating_sub(bytes, txn.remove_indexed(when, victim));
          index.erase();
          if (expired) {
            ++out.expired;
            if (!over) --reclaim;
          } else {
            ++out.evicted;
          }
        }
        txn.set_bytes(bytes);
        return out;
      },
      charge);
  s.count(removed);
  return removed.written;
}

std::uint64_t FileStore::erase(std::string_view key) {
  State& s = *state_;
  const std::string stored = file::stored_key(key);
  Removed removed = s.env.write([&](MDB_txn* raw) {
    Txn txn(raw, s.env);
    Removed out;
    MDB_val k = as_val(stored), v;
    int rc = mdb_get(raw, s.env.entries(), &k, &v);
    if (rc == MDB_NOTFOUND) return out;
    check(rc, "read an entry");
    auto record = file::read_record(as_view(v));
    if (record && !file::record_matches(stored, *record, key)) return out;
    const bool live = record && record->expires_ms > s.clock();
    const std::uint64_t charge = txn.unindex(stored, v);
    check(mdb_del(raw, s.env.entries(), &k, nullptr), "remove an entry");
    txn.set_bytes(saturating_sub(txn.bytes(), charge));
    (live ? out.live : out.expired) = 1;
    return out;
  });
  s.count(removed);
  return removed.live;
}

bool FileStore::erase_if_equal(std::string_view key, std::string_view value) {
  State& s = *state_;
  if (key.empty()) return false;
  const std::string stored = file::stored_key(key);
  return s.env.write([&](MDB_txn* raw) {
    Txn txn(raw, s.env);
    MDB_val k = as_val(stored), v;
    int rc = mdb_get(raw, s.env.entries(), &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "read an entry");
    auto record = file::read_record(as_view(v));
    if (!record || !file::record_matches(stored, *record, key)) return false;
    if (record->expires_ms <= s.clock() || record->value != value) return false;
    const std::uint64_t charge = txn.unindex(stored, v);
    check(mdb_del(raw, s.env.entries(), &k, nullptr), "remove an entry");
    txn.set_bytes(saturating_sub(txn.bytes(), charge));
    return true;
  });
}

std::uint64_t FileStore::erase_prefix(std::string_view prefix) {
  State& s = *state_;
  // Stored keys keep the first kDirectKeyMax bytes of the key, so the range of stored keys
  // starting with `scan` holds every key starting with `prefix` (and, for prefixes longer
  // than that, some that do not: the full key in the record decides).
  const std::string_view scan = prefix.substr(0, std::min(prefix.size(), file::kDirectKeyMax));
  std::string resume(scan);
  std::uint64_t total = 0;
  std::size_t batch = kBatch;
  for (;;) {
    std::string next;
    Removed removed;
    try {
      removed = s.env.write([&](MDB_txn* raw) {
        Txn txn(raw, s.env);
        Removed out;
        out.done = false;
        const std::int64_t now = s.clock();
        std::uint64_t bytes = txn.bytes();
        Cursor cursor(raw, s.env.entries());
        std::size_t examined = 0;
        bool at = cursor.seek(resume);
        for (; at && cursor.key().starts_with(scan); ++examined) {
          if (examined == batch) {
            next = cursor.key();
            break;
          }
          const std::string_view stored = cursor.key();
          auto record = file::read_record(as_view(cursor.value()));
          const bool hashed = file::is_hashed(stored);
          const std::string_view full = hashed ? (record ? record->full_key : "") : stored;
          if ((!hashed || record) && full.starts_with(prefix)) {
            const bool live = record && record->expires_ms > now;
            const std::string owned(stored);
            bytes = saturating_sub(bytes, txn.unindex(owned, cursor.value()));
            cursor.erase();
            (live ? out.live : out.expired) += 1;
          }
          at = cursor.move(MDB_NEXT);
        }
        out.done = examined < batch || next.empty();
        txn.set_bytes(bytes);
        return out;
      });
    } catch (const Error& e) {
      if (!smaller_batch(e, batch)) throw;
      continue;
    }
    s.count(removed);
    total += removed.live;
    if (removed.done) return total;
    resume = std::move(next);
    batch = std::min(kBatch, batch * 2);
  }
}

std::uint64_t FileStore::flush() {
  State& s = *state_;
  Removed removed;
  try {
    removed = s.env.write([&](MDB_txn* raw) {
      Txn txn(raw, s.env);
      Removed out;
      const std::int64_t now = s.clock();
      MDB_stat stat{};
      check(mdb_stat(raw, s.env.entries(), &stat), "count entries");
      {
        Cursor index(raw, s.env.expiry());
        for (bool at = index.move(MDB_FIRST); at; at = index.move(MDB_NEXT)) {
          auto split = file::split_expiry_key(index.key());
          if (split && split->first > now) break;
          ++out.expired;
        }
      }
      out.expired = std::min<std::uint64_t>(out.expired, stat.ms_entries);
      out.live = stat.ms_entries - out.expired;
      check(mdb_drop(raw, s.env.entries(), 0), "empty the entries");
      check(mdb_drop(raw, s.env.expiry(), 0), "empty the expiry index");
      txn.set_bytes(0);
      return out;
    });
  } catch (const Error& e) {
    // Dropping everything at once needs free pages for the list of what it frees; a store
    // whose reserve is gone (a long reader pinning old pages, or a file from an older
    // version) is emptied in small batches instead, each freeing room for the next.
    if (e.code() != Errc::store_full) throw;
    return erase_prefix("");
  }
  s.count(removed);
  return removed.live;
}

std::uint64_t FileStore::flush_expired() {
  State& s = *state_;
  std::uint64_t total = 0;
  std::size_t batch = kBatch;
  for (;;) {
    Removed removed;
    try {
      removed = s.env.write([&](MDB_txn* raw) {
        Txn txn(raw, s.env);
        Removed out;
        out.done = false;
        const std::int64_t now = s.clock();
        std::uint64_t bytes = txn.bytes();
        Cursor index(raw, s.env.expiry());
        std::size_t examined = 0;
        bool at = index.move(MDB_FIRST);
        for (; at && examined < batch; ++examined) {
          auto split = file::split_expiry_key(index.key());
          if (split && split->first > now) break;
          if (split) {
            const std::int64_t when = split->first;
            const std::string victim(split->second);
            const std::uint64_t charge = txn.remove_indexed(when, victim);
            bytes = saturating_sub(bytes, charge);
            if (charge != 0) ++out.expired;
          }
          index.erase();
          at = index.move(MDB_NEXT);
        }
        out.done = examined < batch;
        txn.set_bytes(bytes);
        return out;
      });
    } catch (const Error& e) {
      if (!smaller_batch(e, batch)) throw;
      continue;
    }
    s.count(removed);
    total += removed.expired;
    if (removed.done) return total;
    batch = std::min(kBatch, batch * 2);
  }
}

StoreStats FileStore::stats() const {
  State& s = *state_;
  StoreStats out;
  s.env.read([&](MDB_txn* raw) {
    Txn txn(raw, s.env);
    MDB_stat stat{};
    check(mdb_stat(raw, s.env.entries(), &stat), "count entries");
    out.entries = stat.ms_entries;
    out.bytes = txn.bytes();
    return 0;
  });
  out.hits = s.hits.load(std::memory_order_relaxed);
  out.misses = s.misses.load(std::memory_order_relaxed);
  out.evictions = s.evictions.load(std::memory_order_relaxed);
  out.expirations = s.expirations.load(std::memory_order_relaxed);
  out.capacity = s.max_size;
  return out;
}

}  // namespace cachette
