#include "cachette/detail/memory_shard.hpp"

#include <cstring>

#include "cachette/detail/memory_arena.hpp"

namespace cachette::detail {
namespace {

std::uint64_t round_to_page(std::uint64_t bytes) noexcept {
  return (bytes + kPage - 1) & ~(kPage - 1);
}

// The budget counts exact entry sizes while blocks are rounded to 8 bytes and free space
// fragments, so the heap gets a quarter more room than the budget. Should it still run out,
// allocation evicts (see Shard::place) rather than fail; the slack only makes that rare.
std::uint64_t heap_bytes_for(std::uint64_t budget) noexcept {
  return round_to_page(budget + budget / 4 + (64 << 10));
}

// memcpy from a null pointer is undefined even for zero bytes, and an empty string_view may
// carry one.
void copy_bytes(char* to, std::string_view from) noexcept {
  if (!from.empty()) std::memcpy(to, from.data(), from.size());
}

std::uint64_t charge_of(const EntryHeader& e) noexcept {
  return kEntryOverhead + e.key_len + e.value_len;
}

}  // namespace

std::uint64_t Shard::region_bytes_for(std::uint64_t budget) noexcept {
  return kPage + 2 * Index::half_bytes_for(budget / kMinBlock) + heap_bytes_for(budget);
}

void Shard::format(std::byte* base, std::uint64_t budget) noexcept {
  auto& header = *reinterpret_cast<ShardHeader*>(base);
  header.budget = budget;
  const std::uint64_t half = Index::half_bytes_for(budget / kMinBlock);
  Index::format(header.index, kPage, half);
  const std::uint64_t heap_begin = kPage + 2 * half;
  Heap::format(header.heap, heap_begin, heap_begin + heap_bytes_for(budget));
  header.sieve = SieveState{kNull, kNull, kNull};
  header.counters = ShardCounters{};
}

std::uint64_t Shard::find(std::string_view key, std::uint32_t hash) const noexcept {
  return index_.find(hash, [&](Units offset) { return entry(offset).key() == key; });
}

bool Shard::visit(std::string_view key, std::uint32_t hash, std::uint64_t now, Store::Sink sink,
                  void* context, std::uint64_t* stamp) {
  ShardCounters& counters = header_.counters;
  const std::uint64_t pos = find(key, hash);
  if (pos == Index::kNotFound) {
    ++counters.misses;
    return false;
  }
  const Units offset = index_.entry_at(pos);
  EntryHeader& e = entry(offset);
  if (e.expired(now)) {
    index_.erase_at(pos);
    drop(offset);
    ++counters.expirations;
    ++counters.misses;
    return false;
  }
  e.size_flags |= kVisited;
  ++counters.hits;
  const std::uint64_t expires = e.expires_at();
  const std::uint64_t written = e.written_at();
  const std::int64_t ttl_ms =
      expires == kNever ? kNoExpiry : static_cast<std::int64_t>(expires - now);
  const std::int64_t age_ms = now > written ? static_cast<std::int64_t>(now - written) : 0;
  if (stamp != nullptr) *stamp = e.stamp();
  sink(context, e.value(), ttl_ms, age_ms);
  return true;
}

std::uint64_t Shard::put(std::string_view key, std::uint32_t hash, std::string_view value,
                         std::uint64_t now, std::uint64_t expires_at,
                         std::uint64_t stamp) noexcept {
  std::uint64_t replaced = 0;
  ShardCounters& counters = header_.counters;
  const std::uint64_t charge = kEntryOverhead + key.size() + value.size();
  const std::uint64_t block = Heap::block_size_for(charge);

  const std::uint64_t pos = find(key, hash);
  if (pos != Index::kNotFound) {
    const Units offset = index_.entry_at(pos);
    EntryHeader& e = entry(offset);
    const std::uint64_t old_charge = charge_of(e);
    const std::uint64_t old_block = e.block_size();
    replaced = e.stamp();
    // Same-sized rewrites (counters, refreshed pages) are common: reuse the block and keep
    // the entry's place in the queue. A write is a use, so it also earns the visited bit.
    if (old_block >= block && old_block - block < kMinBlock &&
        counters.bytes - old_charge + charge <= header_.budget) {
      copy_bytes(e.key_data() + key.size(), value);
      e.value_len = static_cast<std::uint32_t>(value.size());
      e.set_written_at(now);
      e.set_expires_at(expires_at);
      e.set_stamp(stamp);
      e.size_flags |= kVisited;
      counters.bytes = counters.bytes - old_charge + charge;
      return replaced;
    }
    index_.erase_at(pos);
    drop(offset);
  }

  while (counters.bytes + charge > header_.budget) evict_one(now);
  const Units offset = place(block, now);
  EntryHeader& e = entry(offset);
  e.key_len = static_cast<std::uint32_t>(key.size());
  e.value_len = static_cast<std::uint32_t>(value.size());
  e.set_written_at(now);
  e.set_expires_at(expires_at);
  e.set_stamp(stamp);
  copy_bytes(e.key_data(), key);
  copy_bytes(e.key_data() + key.size(), value);
  link_head(offset);
  index_.insert(hash, offset);
  counters.bytes += charge;
  ++counters.entries;
  return replaced;
}

std::uint64_t Shard::erase(std::string_view key, std::uint32_t hash, std::uint64_t now) noexcept {
  const std::uint64_t pos = find(key, hash);
  if (pos == Index::kNotFound) return 0;
  const Units offset = index_.entry_at(pos);
  const bool live = !entry(offset).expired(now);
  index_.erase_at(pos);
  drop(offset);
  if (!live) ++header_.counters.expirations;
  return live ? 1 : 0;
}

std::uint64_t Shard::erase_prefix(std::string_view prefix, std::uint64_t now) noexcept {
  std::uint64_t removed = 0;
  for (Units offset = header_.sieve.tail; offset != kNull;) {
    const EntryHeader& e = entry(offset);
    const Units next = e.newer;
    if (e.key().starts_with(prefix)) {
      if (e.expired(now)) {
        ++header_.counters.expirations;
      } else {
        ++removed;
      }
      remove(offset);
    }
    offset = next;
  }
  return removed;
}

std::uint64_t Shard::flush(std::uint64_t now) noexcept {
  std::uint64_t live = 0;
  std::uint64_t expired = 0;
  for (Units offset = header_.sieve.tail; offset != kNull; offset = entry(offset).newer) {
    if (entry(offset).expired(now)) {
      ++expired;
    } else {
      ++live;
    }
  }
  header_.counters.expirations += expired;
  clear();
  return live;
}

std::uint64_t Shard::flush_expired(std::uint64_t now) noexcept {
  std::uint64_t reclaimed = 0;
  for (Units offset = header_.sieve.tail; offset != kNull;) {
    const EntryHeader& e = entry(offset);
    const Units next = e.newer;
    if (e.expired(now)) {
      remove(offset);
      ++reclaimed;
    }
    offset = next;
  }
  header_.counters.expirations += reclaimed;
  // Hand the pages back when a sweep leaves nothing behind.
  if (header_.counters.entries == 0 && reclaimed != 0) clear();
  return reclaimed;
}

void Shard::drop(Units offset) noexcept {
  EntryHeader& e = entry(offset);
  unlink(offset);
  header_.counters.bytes -= charge_of(e);
  --header_.counters.entries;
  heap_.release(offset);
}

void Shard::remove(Units offset) noexcept {
  const auto hash = static_cast<std::uint32_t>(hash_key(entry(offset).key(), seed_));
  index_.erase(hash, offset);
  drop(offset);
}

void Shard::link_head(Units offset) noexcept {
  SieveState& sieve = header_.sieve;
  EntryHeader& e = entry(offset);
  e.newer = kNull;
  e.older = sieve.head;
  if (sieve.head != kNull) {
    entry(sieve.head).newer = offset;
  } else {
    sieve.tail = offset;
  }
  sieve.head = offset;
}

void Shard::unlink(Units offset) noexcept {
  SieveState& sieve = header_.sieve;
  EntryHeader& e = entry(offset);
  if (sieve.hand == offset) sieve.hand = e.newer;
  if (e.newer != kNull) {
    entry(e.newer).older = e.older;
  } else {
    sieve.head = e.older;
  }
  if (e.older != kNull) {
    entry(e.older).newer = e.newer;
  } else {
    sieve.tail = e.newer;
  }
}

void Shard::evict_one(std::uint64_t now) noexcept {
  SieveState& sieve = header_.sieve;
  Units hand = sieve.hand != kNull ? sieve.hand : sieve.tail;
  for (;;) {
    EntryHeader& e = entry(hand);
    // An expired entry is the cheapest victim whatever its visited bit says.
    if (!(e.size_flags & kVisited) || e.expired(now)) break;
    e.size_flags &= ~kVisited;
    hand = e.newer != kNull ? e.newer : sieve.tail;
  }
  if (entry(hand).expired(now)) {
    ++header_.counters.expirations;
  } else {
    ++header_.counters.evictions;
  }
  // unlink() moves the hand on to the victim's newer neighbour, where the next search starts.
  sieve.hand = hand;
  remove(hand);
}

Units Shard::place(std::uint64_t block_size, std::uint64_t now) noexcept {
  for (;;) {
    const Units offset = heap_.allocate(block_size);
    if (offset != kNull) return offset;
    if (header_.counters.entries == 0) break;
    evict_one(now);
  }
  // Unreachable while the store checks entries against the budget: with no entries left every
  // free block has merged back under the bump pointer, and the heap is larger than the budget.
  // Starting over keeps this total even so.
  heap_.reset();
  return heap_.allocate(block_size);
}

void Shard::clear() noexcept {
  const HeapState& heap = header_.heap;
  std::byte* base = reinterpret_cast<std::byte*>(&header_);
  discard_pages(base + heap.begin, heap.top - heap.begin);
  heap_.reset();
  index_.reset();
  header_.sieve = SieveState{kNull, kNull, kNull};
  header_.counters.bytes = 0;
  header_.counters.entries = 0;
}

}  // namespace cachette::detail
