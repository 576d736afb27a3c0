#pragma once
// Per-shard hash index: open addressing with linear probing over 8-byte slots (entry offset,
// 32 hash bits). Keeping the hash in the slot lets a probe skip most non-matching entries
// without touching them and lets the table grow without reading any key. Deletion shifts
// later slots back instead of leaving tombstones, so probe runs never degrade.
//
// The table lives in one of two fixed halves of the index area and moves to the other half
// when it doubles; the vacated half is handed back to the system. Each half is sized for the
// most entries the shard's budget allows, so growing can never fail.

#include <cstddef>
#include <cstdint>

#include "cachette/detail/memory_layout.hpp"

namespace cachette::detail {

struct IndexSlot {
  Units entry;  // kNull: empty
  std::uint32_t hash;
};

class Index {
 public:
  static constexpr std::uint64_t kNotFound = ~std::uint64_t{0};
  static constexpr std::uint64_t kInitialSlots = 256;

  Index(std::byte* base, IndexState& state) noexcept : base_(base), state_(state) {}

  /// Bytes per half needed for a shard that can hold at most `max_entries` entries.
  static std::uint64_t half_bytes_for(std::uint64_t max_entries) noexcept;
  /// Prepares an empty table. The area must read as zeros.
  static void format(IndexState& state, std::uint64_t area, std::uint64_t half_bytes) noexcept;

  /// Position of the slot whose entry satisfies `matches(Units)`, or kNotFound.
  template <class Matches>
  std::uint64_t find(std::uint32_t hash, Matches&& matches) const noexcept {
    const IndexSlot* slots = table();
    const std::uint64_t mask = state_.slots - 1;
    for (std::uint64_t pos = hash & mask;; pos = (pos + 1) & mask) {
      const IndexSlot slot = slots[pos];
      if (slot.entry == kNull) return kNotFound;
      if (slot.hash == hash && matches(slot.entry)) return pos;
    }
  }

  Units entry_at(std::uint64_t pos) const noexcept { return table()[pos].entry; }

  /// Adds an entry known to be absent.
  void insert(std::uint32_t hash, Units entry) noexcept;
  /// Removes the slot at `pos` (from find).
  void erase_at(std::uint64_t pos) noexcept;
  /// Removes the slot holding `entry`, which must be present under `hash`.
  void erase(std::uint32_t hash, Units entry) noexcept;
  /// Empties the table and returns it to its initial size.
  void reset() noexcept;

 private:
  IndexSlot* table() const noexcept {
    return reinterpret_cast<IndexSlot*>(base_ + state_.area + state_.half * state_.half_bytes);
  }
  void grow() noexcept;

  std::byte* base_;
  IndexState& state_;
};

}  // namespace cachette::detail
