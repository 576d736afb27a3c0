#pragma once
// Per-shard allocator for entry blocks. Blocks are carved from a bump pointer and recycled
// through segregated free lists (exact sizes up to 1 KiB, then four classes per power of two);
// freed neighbours coalesce immediately (boundary tags: a free block ends with its size and the
// block after it carries kPrevFree), and a free block touching the bump pointer is merged into
// it. The last rule is what guarantees eviction terminates: once a shard holds no entries, its
// whole heap is back under the bump pointer, so any block that fits the heap can be placed.

#include <cstddef>
#include <cstdint>

#include "cachette/detail/memory_layout.hpp"

namespace cachette::detail {

class Heap {
 public:
  Heap(std::byte* base, HeapState& state) noexcept : base_(base), state_(state) {}

  /// Prepares an empty heap over the region bytes [begin, end).
  static void format(HeapState& state, std::uint64_t begin, std::uint64_t end) noexcept;

  /// Block size for a request: rounded up to the block alignment, never below kMinBlock.
  static std::uint64_t block_size_for(std::uint64_t bytes) noexcept;

  /// A block of exactly `size` bytes or slightly more (the block header records which),
  /// `size` coming from block_size_for. Returns kNull when no block fits; the caller then
  /// evicts and retries. The block's first word holds its size; every other byte is the
  /// caller's.
  Units allocate(std::uint64_t size) noexcept;

  /// Returns a block obtained from allocate.
  void release(Units block) noexcept;

  /// Forgets every block at once (the shard is being emptied).
  void reset() noexcept;

  /// Capacity of the heap in bytes.
  std::uint64_t capacity() const noexcept { return state_.end - state_.begin; }

  EntryHeader& header(Units block) const noexcept {
    return *reinterpret_cast<EntryHeader*>(base_ + std::uint64_t{block} * kUnit);
  }

 private:
  EntryHeader& header_at(std::uint64_t offset) const noexcept {
    return *reinterpret_cast<EntryHeader*>(base_ + offset);
  }
  void push_free(std::uint64_t offset, std::uint64_t size) noexcept;
  void unlink_free(std::uint64_t offset) noexcept;
  Units take(std::uint64_t offset, std::uint64_t size) noexcept;
  std::uint32_t find_class_from(std::uint32_t cls) const noexcept;

  std::byte* base_;
  HeapState& state_;
};

}  // namespace cachette::detail
