#pragma once
// One shard of the memory store: index, heap and SIEVE queue over one arena region. A Shard
// is a cheap view (a base pointer) built per call; all state lives in the region's
// ShardHeader. Callers hold the shard's lock for every call.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cachette/detail/memory_hash.hpp"
#include "cachette/detail/memory_heap.hpp"
#include "cachette/detail/memory_index.hpp"
#include "cachette/detail/memory_layout.hpp"
#include "cachette/store.hpp"

namespace cachette::detail {

class Shard {
 public:
  /// `seed` must be the one the store hashes keys with: entries removed without a lookup
  /// (eviction, sweeps) find their index slot by hashing their key again.
  Shard(std::byte* base, const HashSeed& seed) noexcept
      : header_(*reinterpret_cast<ShardHeader*>(base)),
        heap_(base, header_.heap),
        index_(base, header_.index),
        seed_(seed) {}

  /// Bytes a region needs for a shard with `budget` bytes; the layout is fixed by the budget.
  static std::uint64_t region_bytes_for(std::uint64_t budget) noexcept;
  /// Lays out an empty shard in a zeroed region of region_bytes_for(budget) bytes.
  static void format(std::byte* base, std::uint64_t budget) noexcept;

  std::uint64_t budget() const noexcept { return header_.budget; }

  /// `hash` is the low half of the key's hash; `now` is monotonic ms. Not noexcept: the sink
  /// may throw (allocation), and it runs last, once the shard is consistent again. When
  /// `stamp` is given, the entry's stamp is stored there before the sink runs.
  bool visit(std::string_view key, std::uint32_t hash, std::uint64_t now, Store::Sink sink,
             void* context, std::uint64_t* stamp = nullptr);
  /// `expires_at` is absolute (kNever for none); `stamp` names this write (never 0, never
  /// reused). The caller has checked that the entry fits the budget, so this cannot fail.
  /// Returns the stamp of the entry it replaced, 0 if there was none.
  std::uint64_t put(std::string_view key, std::uint32_t hash, std::string_view value,
                    std::uint64_t now, std::uint64_t expires_at, std::uint64_t stamp) noexcept;
  std::uint64_t erase(std::string_view key, std::uint32_t hash, std::uint64_t now) noexcept;
  std::uint64_t erase_prefix(std::string_view prefix, std::uint64_t now) noexcept;
  std::uint64_t flush(std::uint64_t now) noexcept;
  std::uint64_t flush_expired(std::uint64_t now) noexcept;
  const ShardCounters& counters() const noexcept { return header_.counters; }

 private:
  std::uint64_t find(std::string_view key, std::uint32_t hash) const noexcept;
  EntryHeader& entry(Units offset) const noexcept { return heap_.header(offset); }
  /// Removes an entry whose index slot is already gone.
  void drop(Units offset) noexcept;
  /// Removes an entry found by a scan (its index slot still present).
  void remove(Units offset) noexcept;
  void link_head(Units offset) noexcept;
  void unlink(Units offset) noexcept;
  /// Removes one entry chosen by SIEVE (an expired one counts as an expiration).
  void evict_one(std::uint64_t now) noexcept;
  Units place(std::uint64_t block_size, std::uint64_t now) noexcept;
  void clear() noexcept;

  ShardHeader& header_;
  Heap heap_;
  Index index_;
  const HashSeed& seed_;
};

}  // namespace cachette::detail
