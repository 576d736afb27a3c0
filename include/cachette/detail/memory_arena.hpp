#pragma once
// The memory store's single reservation of address space. Reserving does not commit: pages
// cost memory only once written, so the arena can be sized for the worst case up front and
// nothing ever moves (offsets into it stay valid for the store's lifetime).

#include <cstddef>
#include <cstdint>

namespace cachette::detail {

class Arena {
 public:
  /// Reserves `bytes` (a multiple of the page size) of zeroed memory.
  /// Throws Error(storage) if the address space cannot be reserved.
  explicit Arena(std::uint64_t bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  std::byte* data() const noexcept { return data_; }
  std::uint64_t size() const noexcept { return size_; }

 private:
  std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
};

/// Gives the whole pages inside [begin, begin + bytes) back to the system; they read as
/// zeros afterwards. Used when a table or heap shrinks so its memory stops counting in RSS.
void discard_pages(std::byte* begin, std::uint64_t bytes) noexcept;

}  // namespace cachette::detail
