#include "cachette/detail/memory_heap.hpp"

#include <bit>
#include <cstring>

namespace cachette::detail {
namespace {

inline constexpr std::uint32_t kNoClass = kClassCount;

std::uint32_t size_class(std::uint64_t size) noexcept {
  if (size <= kExactClassLimit) return static_cast<std::uint32_t>(size / 8);
  const auto log2 = static_cast<std::uint32_t>(std::bit_width(size) - 1);
  const auto sub = static_cast<std::uint32_t>((size >> (log2 - 2)) & 3);
  return kExactClassLimit / 8 + 1 + (log2 - 10) * 4 + sub;
}

// A block in an exact class always has that size; a block in a range class may be smaller
// than the request, so only the classes above the request's are guaranteed to fit.
bool class_is_exact(std::uint32_t cls) noexcept {
  return cls <= kExactClassLimit / 8;
}

Units to_units(std::uint64_t offset) noexcept {
  return static_cast<Units>(offset / kUnit);
}

}  // namespace

void Heap::format(HeapState& state, std::uint64_t begin, std::uint64_t end) noexcept {
  state.begin = begin;
  state.end = end;
  state.top = begin;
  std::memset(state.nonempty, 0, sizeof state.nonempty);
  std::memset(state.free_head, 0, sizeof state.free_head);
}

std::uint64_t Heap::block_size_for(std::uint64_t bytes) noexcept {
  const std::uint64_t rounded = (bytes + kUnit - 1) & ~(kUnit - 1);
  return rounded < kMinBlock ? kMinBlock : rounded;
}

void Heap::reset() noexcept {
  format(state_, state_.begin, state_.end);
}

std::uint32_t Heap::find_class_from(std::uint32_t cls) const noexcept {
  for (std::uint32_t word = cls / 64; word < kClassWords; ++word) {
    std::uint64_t bits = state_.nonempty[word];
    if (word == cls / 64) bits &= ~std::uint64_t{0} << (cls % 64);
    if (bits != 0) return word * 64 + static_cast<std::uint32_t>(std::countr_zero(bits));
  }
  return kNoClass;
}

Units Heap::allocate(std::uint64_t size) noexcept {
  const std::uint32_t cls = size_class(size);
  std::uint32_t found = kNoClass;
  if (state_.free_head[cls] != kNull &&
      (class_is_exact(cls) || header(state_.free_head[cls]).block_size() >= size)) {
    found = cls;
  } else if (cls + 1 < kClassCount) {
    found = find_class_from(cls + 1);
  }
  if (found != kNoClass) {
    const std::uint64_t offset = std::uint64_t{state_.free_head[found]} * kUnit;
    unlink_free(offset);
    return take(offset, size);
  }
  if (state_.end - state_.top < size) return kNull;
  const std::uint64_t offset = state_.top;
  state_.top += size;
  // The block below the bump pointer is never free (it would have merged into it).
  header_at(offset).size_flags = static_cast<std::uint32_t>(size);
  return to_units(offset);
}

Units Heap::take(std::uint64_t offset, std::uint64_t size) noexcept {
  const std::uint64_t available = header_at(offset).block_size();
  const std::uint64_t rest = available - size;
  if (rest >= kMinBlock) {
    header_at(offset).size_flags = static_cast<std::uint32_t>(size);
    // The block after the remainder already carries kPrevFree.
    push_free(offset + size, rest);
    return to_units(offset);
  }
  // Too small to stand alone as a free block: the entry keeps the slack.
  header_at(offset).size_flags = static_cast<std::uint32_t>(available);
  const std::uint64_t next = offset + available;
  if (next != state_.top) header_at(next).size_flags &= ~kPrevFree;
  return to_units(offset);
}

void Heap::release(Units block) noexcept {
  std::uint64_t offset = std::uint64_t{block} * kUnit;
  EntryHeader& h = header_at(offset);
  std::uint64_t size = h.block_size();
  if (h.size_flags & kPrevFree) {
    std::uint32_t before;
    std::memcpy(&before, base_ + offset - sizeof before, sizeof before);
    offset -= before;
    size += before;
    unlink_free(offset);
  }
  std::uint64_t next = offset + size;
  if (next != state_.top && (header_at(next).size_flags & kBlockFree)) {
    const std::uint64_t after = header_at(next).block_size();
    unlink_free(next);
    size += after;
    next += after;
  }
  if (next == state_.top) {
    state_.top = offset;
    return;
  }
  push_free(offset, size);
  header_at(next).size_flags |= kPrevFree;
}

void Heap::push_free(std::uint64_t offset, std::uint64_t size) noexcept {
  const std::uint32_t cls = size_class(size);
  EntryHeader& h = header_at(offset);
  // The block before a free block is never free (neighbours coalesce), hence no kPrevFree.
  h.size_flags = static_cast<std::uint32_t>(size) | kBlockFree;
  h.key_len = kNull;  // previous on the list
  h.value_len = state_.free_head[cls];
  if (h.value_len != kNull) header(h.value_len).key_len = to_units(offset);
  state_.free_head[cls] = to_units(offset);
  state_.nonempty[cls / 64] |= std::uint64_t{1} << (cls % 64);
  const auto footer = static_cast<std::uint32_t>(size);
  std::memcpy(base_ + offset + size - sizeof footer, &footer, sizeof footer);
}

void Heap::unlink_free(std::uint64_t offset) noexcept {
  EntryHeader& h = header_at(offset);
  const std::uint32_t cls = size_class(h.block_size());
  const Units prev = h.key_len;
  const Units next = h.value_len;
  if (prev != kNull) {
    header(prev).value_len = next;
  } else {
    state_.free_head[cls] = next;
    if (next == kNull) state_.nonempty[cls / 64] &= ~(std::uint64_t{1} << (cls % 64));
  }
  if (next != kNull) header(next).key_len = prev;
}

}  // namespace cachette::detail
