#pragma once
// Byte layout of the memory store's arena. Everything stored in the arena is plain data
// that refers to other arena data by offset from its shard region's base, never by pointer,
// so the same bytes stay meaningful when the arena is mapped at another address (a later
// step maps it into several worker processes).
//
//   arena:  [ArenaHeader page][region 0][region 1]...[region N-1]
//   region: [ShardHeader page][index area: two halves][heap: entry blocks and free blocks]

#include <cstdint>
#include <string_view>

namespace cachette::detail {

/// Offsets stored in the arena count 8-byte units from the region base, so a uint32 spans
/// 32 GiB. Offset 0 is the shard header and therefore never names an entry or block.
using Units = std::uint32_t;
inline constexpr std::uint64_t kUnit = 8;
inline constexpr Units kNull = 0;

inline constexpr std::uint64_t kPage = 4096;

/// Every block (entry or free) starts with a 32-bit word: its size in bytes, a multiple of
/// 8, with flags in the three low bits.
inline constexpr std::uint32_t kBlockFree = 1;  ///< the block is on a free list
inline constexpr std::uint32_t kPrevFree = 2;   ///< the block physically before is free
inline constexpr std::uint32_t kVisited = 4;    ///< SIEVE: read since the hand last passed
inline constexpr std::uint32_t kFlagMask = 7;

/// Times are milliseconds on the monotonic clock stored in 48 bits (8900 years); the all-ones
/// value marks an entry without expiry.
inline constexpr std::uint64_t kNever = (std::uint64_t{1} << 48) - 1;

/// Header of a stored entry, followed by the key bytes and then the value bytes. A free
/// block reuses the first three words (size, then its free-list links).
struct EntryHeader {
  std::uint32_t size_flags;
  std::uint32_t key_len;    // free block: previous block on its free list
  std::uint32_t value_len;  // free block: next block on its free list
  Units newer;              // SIEVE queue neighbour toward the head (newest)
  Units older;              // SIEVE queue neighbour toward the tail (oldest)
  std::uint16_t written_hi;
  std::uint16_t expires_hi;
  std::uint32_t written_lo;
  std::uint32_t expires_lo;
  std::uint32_t stamp_lo;  // this write's stamp (Store::visit_stamped): the store's write count
  std::uint32_t stamp_hi;

  std::uint32_t block_size() const noexcept { return size_flags & ~kFlagMask; }
  std::uint64_t written_at() const noexcept { return join(written_hi, written_lo); }
  std::uint64_t expires_at() const noexcept { return join(expires_hi, expires_lo); }
  void set_written_at(std::uint64_t ms) noexcept { split(ms, written_hi, written_lo); }
  void set_expires_at(std::uint64_t ms) noexcept { split(ms, expires_hi, expires_lo); }
  bool expired(std::uint64_t now) const noexcept { return expires_at() <= now; }
  std::uint64_t stamp() const noexcept { return (std::uint64_t{stamp_hi} << 32) | stamp_lo; }
  void set_stamp(std::uint64_t stamp) noexcept {
    stamp_hi = static_cast<std::uint32_t>(stamp >> 32);
    stamp_lo = static_cast<std::uint32_t>(stamp);
  }

  const char* key_data() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  char* key_data() noexcept { return reinterpret_cast<char*>(this + 1); }
  std::string_view key() const noexcept { return {key_data(), key_len}; }
  std::string_view value() const noexcept { return {key_data() + key_len, value_len}; }

 private:
  static std::uint64_t join(std::uint16_t hi, std::uint32_t lo) noexcept {
    return (std::uint64_t{hi} << 32) | lo;
  }
  static void split(std::uint64_t ms, std::uint16_t& hi, std::uint32_t& lo) noexcept {
    hi = static_cast<std::uint16_t>(ms >> 32);
    lo = static_cast<std::uint32_t>(ms);
  }
};
static_assert(sizeof(EntryHeader) == 40);

/// Bytes charged against the budget for one entry: what the caller stored plus its header.
inline constexpr std::uint64_t kEntryOverhead = sizeof(EntryHeader);
/// Smallest block: an entry with empty key and value, which also holds a free block's
/// links and size footer.
inline constexpr std::uint64_t kMinBlock = sizeof(EntryHeader);

/// Free lists: one per exact size up to 1 KiB, then four per power of two.
inline constexpr std::uint32_t kExactClassLimit = 1024;
inline constexpr std::uint32_t kClassCount = kExactClassLimit / 8 + 1 + (32 - 10) * 4;
inline constexpr std::uint32_t kClassWords = (kClassCount + 63) / 64;

struct HeapState {
  std::uint64_t begin;  // byte offsets of the heap within the region
  std::uint64_t end;
  std::uint64_t top;  // everything from here to `end` has never been handed out since reset
  std::uint64_t nonempty[kClassWords];  // bit c: free list c has a block
  Units free_head[kClassCount];
};

struct IndexState {
  std::uint64_t area;        // byte offset of the first half
  std::uint64_t half_bytes;  // bytes per half; the table moves between halves as it grows
  std::uint64_t slots;       // current table size, a power of two
  std::uint64_t used;        // occupied slots
  std::uint32_t half;        // which half holds the current table
};

struct SieveState {
  Units head;  // newest
  Units tail;  // oldest
  Units hand;  // next candidate for eviction; kNull means start again from the tail
};

struct ShardCounters {
  std::uint64_t hits;
  std::uint64_t misses;
  std::uint64_t evictions;
  std::uint64_t expirations;
  std::uint64_t entries;
  std::uint64_t bytes;
};

struct ShardHeader {
  std::uint64_t budget;  // bytes this shard may charge
  HeapState heap;
  IndexState index;
  SieveState sieve;
  ShardCounters counters;
};
static_assert(sizeof(ShardHeader) <= kPage);

inline constexpr std::uint64_t kArenaMagic = 0x3165747465686361ull;  // "achette1"

struct ArenaHeader {
  std::uint64_t magic;
  std::uint64_t capacity;      // max_memory as configured
  std::uint64_t region_bytes;  // size of each shard's region
  std::uint64_t hash_state;    // the hash seed: every process sharing the arena must agree
  std::uint64_t hash_fold;
  std::uint32_t shards;
  std::uint64_t writes;  // stamps handed out so far (atomically: EntryHeader::stamp)
};
static_assert(sizeof(ArenaHeader) <= kPage);

}  // namespace cachette::detail
