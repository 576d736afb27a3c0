#include "cachette/detail/memory_arena.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "cachette/detail/memory_layout.hpp"
#include "cachette/error.hpp"

namespace cachette::detail {

Arena::Arena(std::uint64_t bytes) : size_(bytes) {
  // MAP_NORESERVE: the reservation is sized for a full budget plus slack, and most of it is
  // usually never touched; without it a strict overcommit policy would count all of it.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw Error(Errc::storage, "memory store: cannot reserve " + std::to_string(bytes) +
                                   " bytes of address space: " + std::strerror(errno));
  }
  data_ = static_cast<std::byte*>(p);
}

Arena::~Arena() {
  ::munmap(data_, size_);
}

void discard_pages(std::byte* begin, std::uint64_t bytes) noexcept {
  const auto first = (reinterpret_cast<std::uintptr_t>(begin) + kPage - 1) & ~(kPage - 1);
  const auto last = (reinterpret_cast<std::uintptr_t>(begin) + bytes) & ~(kPage - 1);
  if (last <= first) return;
  // Best effort: if the kernel refuses, the pages simply stay resident.
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace cachette::detail
