#include "cachette/detail/memory_index.hpp"

#include <bit>
#include <cstring>

#include "cachette/detail/memory_arena.hpp"

namespace cachette::detail {
namespace {

// Grow past 3/4 full: linear probing's expected probe length rises steeply beyond that.
bool over_load(std::uint64_t used, std::uint64_t slots) noexcept {
  return used * 4 > slots * 3;
}

}  // namespace

std::uint64_t Index::half_bytes_for(std::uint64_t max_entries) noexcept {
  std::uint64_t slots = kInitialSlots;
  while (over_load(max_entries + 1, slots)) slots *= 2;
  const std::uint64_t bytes = slots * sizeof(IndexSlot);
  return (bytes + kPage - 1) & ~(kPage - 1);
}

void Index::format(IndexState& state, std::uint64_t area, std::uint64_t half_bytes) noexcept {
  state.area = area;
  state.half_bytes = half_bytes;
  state.slots = kInitialSlots;
  state.used = 0;
  state.half = 0;
}

void Index::insert(std::uint32_t hash, Units entry) noexcept {
  if (over_load(state_.used + 1, state_.slots) &&
      state_.slots * 2 * sizeof(IndexSlot) <= state_.half_bytes) {
    grow();
  }
  IndexSlot* slots = table();
  const std::uint64_t mask = state_.slots - 1;
  std::uint64_t pos = hash & mask;
  while (slots[pos].entry != kNull) pos = (pos + 1) & mask;
  slots[pos] = IndexSlot{entry, hash};
  ++state_.used;
}

void Index::erase_at(std::uint64_t pos) noexcept {
  IndexSlot* slots = table();
  const std::uint64_t mask = state_.slots - 1;
  std::uint64_t hole = pos;
  for (std::uint64_t next = (hole + 1) & mask; slots[next].entry != kNull;
       next = (next + 1) & mask) {
    const std::uint64_t home = slots[next].hash & mask;
    // The slot at `next` may move into the hole only if its home is not in (hole, next]:
    // otherwise the hole would sit before its home and a lookup would never reach it.
    const bool home_between =
        hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    if (home_between) continue;
    slots[hole] = slots[next];
    hole = next;
  }
  slots[hole] = IndexSlot{kNull, 0};
  --state_.used;
}

void Index::erase(std::uint32_t hash, Units entry) noexcept {
  const std::uint64_t pos = find(hash, [entry](Units candidate) { return candidate == entry; });
  if (pos != kNotFound) erase_at(pos);
}

void Index::reset() noexcept {
  discard_pages(base_ + state_.area, 2 * state_.half_bytes);
  // Discarded pages of a private mapping read back as zeros, but a shared mapping may not
  // honour that, so the live table is cleared explicitly.
  state_.half = 0;
  state_.slots = kInitialSlots;
  state_.used = 0;
  std::memset(table(), 0, state_.slots * sizeof(IndexSlot));
}

void Index::grow() noexcept {
  const IndexSlot* old_slots = table();
  const std::uint64_t old_count = state_.slots;
  std::byte* old_half = base_ + state_.area + state_.half * state_.half_bytes;

  state_.half ^= 1;
  state_.slots = old_count * 2;
  IndexSlot* slots = table();
  std::memset(slots, 0, state_.slots * sizeof(IndexSlot));
  const std::uint64_t mask = state_.slots - 1;
  for (std::uint64_t i = 0; i < old_count; ++i) {
    const IndexSlot slot = old_slots[i];
    if (slot.entry == kNull) continue;
    std::uint64_t pos = slot.hash & mask;
    while (slots[pos].entry != kNull) pos = (pos + 1) & mask;
    slots[pos] = slot;
  }
  discard_pages(old_half, state_.half_bytes);
}

}  // namespace cachette::detail
