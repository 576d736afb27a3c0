#pragma once
// Keyed 64-bit hash for the memory store. Keys come straight from HTTP requests, so the
// hash takes a per-store secret: without it a client could craft keys that pile into one
// probe run of the index.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace cachette::detail {

struct HashSeed {
  std::uint64_t state = 0;  // mixed into the running state
  std::uint64_t fold = 0;   // mixed into the multiplier, so no public word can zero a product
};

namespace hash_internal {

__extension__ using Wide = unsigned __int128;

// A full 64x64->128 multiply folded back to 64 bits: every input bit reaches every output
// bit in one step, which is why short keys (the common case) need only two multiplies.
inline std::uint64_t fold(std::uint64_t a, std::uint64_t b) noexcept {
  const Wide product = static_cast<Wide>(a) * b;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

inline std::uint64_t load64(const unsigned char* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

inline std::uint32_t load32(const unsigned char* p) noexcept {
  std::uint32_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

inline constexpr std::uint64_t kLength = 0x9e3779b97f4a7c15ull;  // odd, bits well spread
inline constexpr std::uint64_t kFinal = 0xc2b2ae3d27d4eb4full;

}  // namespace hash_internal

/// Hash of `key` under `seed`. The low 32 bits place the key in a shard's index and the
/// high 32 bits choose the shard, so the two choices are independent.
inline std::uint64_t hash_key(std::string_view key, const HashSeed& seed) noexcept {
  using namespace hash_internal;
  const auto* p = reinterpret_cast<const unsigned char*>(key.data());
  std::size_t n = key.size();
  std::uint64_t h = seed.state ^ (static_cast<std::uint64_t>(n) * kLength);
  while (n > 16) {
    h = fold(load64(p) ^ h, load64(p + 8) ^ seed.fold);
    p += 16;
    n -= 16;
  }
  // The last 0..16 bytes as two words read in place, overlapping where n is not a multiple of
  // the load size, so every byte lands in a or b (the length is already in h). Copying them
  // into a zeroed buffer first made each word load wait on a failed store-to-load forward.
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  if (n >= 8) {
    a = load64(p);
    b = load64(p + n - 8);
  } else if (n >= 4) {
    a = load32(p);
    b = load32(p + n - 4);
  } else if (n > 0) {  // p may be null when n is 0
    a = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[n >> 1]} << 8) | p[n - 1];
  }
  h = fold(a ^ h, b ^ seed.fold ^ kLength);
  return fold(h, kFinal ^ seed.fold) ^ h;
}

}  // namespace cachette::detail
