#include "cachette/memory_store.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <mutex>
#include <random>
#include <string>

#include "cachette/clock.hpp"
#include "cachette/detail/memory_arena.hpp"
#include "cachette/detail/memory_hash.hpp"
#include "cachette/detail/memory_layout.hpp"
#include "cachette/detail/memory_shard.hpp"
#include "cachette/error.hpp"

namespace cachette {
namespace {

using detail::ArenaHeader;
using detail::HashSeed;
using detail::kPage;
using detail::Shard;

// Block sizes are 32-bit and the heap is a quarter larger than the budget, so one shard's
// budget stays below 4 GiB with room to spare.
constexpr std::uint64_t kMaxShardBudget = std::uint64_t{3} << 30;
constexpr std::uint32_t kMaxShards = 4096;

// Keeps neighbouring locks off one cache line so shards do not contend through it.
struct alignas(64) ShardLock {
  std::mutex mutex;
};

void validate(const MemoryStoreOptions& options) {
  if (options.shards == 0 || options.shards > kMaxShards || !std::has_single_bit(options.shards)) {
    throw Error(Errc::invalid_argument,
                "memory store: shards must be a power of two between 1 and " +
                    std::to_string(kMaxShards) + ", got " + std::to_string(options.shards));
  }
  if (options.max_memory == 0) {
    throw Error(Errc::invalid_argument, "memory store: max_memory must be greater than 0");
  }
  if (options.max_memory / options.shards > kMaxShardBudget) {
    throw Error(Errc::invalid_argument, "memory store: max_memory / shards must not exceed " +
                                            std::to_string(kMaxShardBudget) +
                                            " bytes; use more shards");
  }
}

HashSeed random_seed() {
  std::random_device device;
  auto draw = [&device] { return (std::uint64_t{device()} << 32) | device(); };
  return HashSeed{draw(), draw()};
}

// Monotonic ms as stored in entries (48 bits, kNever reserved).
std::uint64_t clamp_ms(std::int64_t now) noexcept {
  return std::clamp<std::int64_t>(now, 0, static_cast<std::int64_t>(detail::kNever - 1));
}

}  // namespace

struct MemoryStore::Shared {
  explicit Shared(const MemoryStoreOptions& options)
      : shard_budget(options.max_memory / options.shards),
        region_bytes(Shard::region_bytes_for(shard_budget)),
        shard_mask(options.shards - 1),
        capacity(options.max_memory),
        seed(random_seed()),
        clock(options.clock),
        arena(kPage + region_bytes * options.shards),
        locks(new ShardLock[options.shards]) {
    auto& header = *reinterpret_cast<ArenaHeader*>(arena.data());
    header.magic = detail::kArenaMagic;
    header.capacity = capacity;
    header.region_bytes = region_bytes;
    header.hash_state = seed.state;
    header.hash_fold = seed.fold;
    header.shards = options.shards;
    for (std::uint32_t i = 0; i <= shard_mask; ++i) Shard::format(region(i), shard_budget);
  }

  std::byte* region(std::uint32_t index) const noexcept {
    return arena.data() + kPage + region_bytes * index;
  }
  std::uint64_t now_ms() const { return clamp_ms(clock ? clock() : monotonic_ms()); }
  std::uint32_t shard_of(std::uint64_t hash) const noexcept {
    return static_cast<std::uint32_t>(hash >> 32) & shard_mask;
  }

  const std::uint64_t shard_budget;
  const std::uint64_t region_bytes;
  const std::uint32_t shard_mask;
  const std::uint64_t capacity;
  const HashSeed seed;
  const std::function<std::int64_t()> clock;
  detail::Arena arena;
  std::unique_ptr<ShardLock[]> locks;
};

MemoryStore::MemoryStore(const MemoryStoreOptions& options) {
  validate(options);
  shared_ = std::make_unique<Shared>(options);
}

MemoryStore::~MemoryStore() = default;

bool MemoryStore::visit(std::string_view key, Sink sink, void* context) {
  return visit_shard(key, sink, context, nullptr);
}

bool MemoryStore::visit_stamped(std::string_view key, StampedSink sink, void* context) {
  struct Call {
    StampedSink sink;
    void* context;
    std::uint64_t stamp;
  } call{sink, context, 0};
  return visit_shard(
      key,
      [](void* c, std::string_view value, std::int64_t, std::int64_t) {
        const auto* target = static_cast<Call*>(c);
        target->sink(target->context, value, target->stamp);
      },
      &call, &call.stamp);
}

bool MemoryStore::visit_shard(std::string_view key, Sink sink, void* context,
                              std::uint64_t* stamp) {
  const Shared& s = *shared_;
  const std::uint64_t hash = detail::hash_key(key, s.seed);
  const std::uint32_t index = s.shard_of(hash);
  const std::uint64_t now = s.now_ms();
  std::lock_guard lock(s.locks[index].mutex);
  return Shard(s.region(index), s.seed)
      .visit(key, static_cast<std::uint32_t>(hash), now, sink, context, stamp);
}

void MemoryStore::put(std::string_view key, std::string_view value, std::int64_t ttl_ms) {
  put_stamped(key, value, ttl_ms);
}

std::uint64_t MemoryStore::put_stamped(std::string_view key, std::string_view value,
                                       std::int64_t ttl_ms) {
  const Shared& s = *shared_;
  if (ttl_ms <= 0 && ttl_ms != kNoExpiry) {
    throw Error(
        Errc::invalid_argument,
        "memory store: ttl_ms must be positive or kNoExpiry (-1), got " + std::to_string(ttl_ms));
  }
  const std::uint64_t charge = detail::kEntryOverhead + key.size() + value.size();
  if (charge > s.shard_budget) {
    throw Error(Errc::value_too_large,
                "memory store: an entry of " + std::to_string(charge) + " bytes (key + value + " +
                    std::to_string(detail::kEntryOverhead) + "-byte header) exceeds the limit of " +
                    std::to_string(s.shard_budget) + " bytes per entry (max_memory / shards)");
  }
  const std::uint64_t hash = detail::hash_key(key, s.seed);
  const std::uint32_t index = s.shard_of(hash);
  const std::uint64_t now = s.now_ms();
  const std::uint64_t expires_at =
      ttl_ms == kNoExpiry ? detail::kNever
                          : std::min(now + static_cast<std::uint64_t>(ttl_ms), detail::kNever - 1);
  // Stamps count the store's writes: consecutive writes get consecutive stamps, which keeps
  // the readers' tables of kept strings in write order (bind_store.cpp).
  auto& header = *reinterpret_cast<ArenaHeader*>(s.arena.data());
  const std::uint64_t stamp =
      std::atomic_ref<std::uint64_t>(header.writes).fetch_add(1, std::memory_order_relaxed) + 1;
  std::lock_guard lock(s.locks[index].mutex);
  return Shard(s.region(index), s.seed)
      .put(key, static_cast<std::uint32_t>(hash), value, now, expires_at, stamp);
}

std::uint64_t MemoryStore::erase(std::string_view key) {
  const Shared& s = *shared_;
  const std::uint64_t hash = detail::hash_key(key, s.seed);
  const std::uint32_t index = s.shard_of(hash);
  const std::uint64_t now = s.now_ms();
  std::lock_guard lock(s.locks[index].mutex);
  return Shard(s.region(index), s.seed).erase(key, static_cast<std::uint32_t>(hash), now);
}

std::uint64_t MemoryStore::erase_prefix(std::string_view prefix) {
  const Shared& s = *shared_;
  std::uint64_t removed = 0;
  for (std::uint32_t i = 0; i <= s.shard_mask; ++i) {
    std::lock_guard lock(s.locks[i].mutex);
    removed += Shard(s.region(i), s.seed).erase_prefix(prefix, s.now_ms());
  }
  return removed;
}

std::uint64_t MemoryStore::flush() {
  const Shared& s = *shared_;
  std::uint64_t removed = 0;
  for (std::uint32_t i = 0; i <= s.shard_mask; ++i) {
    std::lock_guard lock(s.locks[i].mutex);
    removed += Shard(s.region(i), s.seed).flush(s.now_ms());
  }
  return removed;
}

std::uint64_t MemoryStore::flush_expired() {
  const Shared& s = *shared_;
  std::uint64_t reclaimed = 0;
  for (std::uint32_t i = 0; i <= s.shard_mask; ++i) {
    std::lock_guard lock(s.locks[i].mutex);
    reclaimed += Shard(s.region(i), s.seed).flush_expired(s.now_ms());
  }
  return reclaimed;
}

StoreStats MemoryStore::stats() const {
  const Shared& s = *shared_;
  StoreStats out;
  out.capacity = s.capacity;
  for (std::uint32_t i = 0; i <= s.shard_mask; ++i) {
    std::lock_guard lock(s.locks[i].mutex);
    const detail::ShardCounters& c = Shard(s.region(i), s.seed).counters();
    out.hits += c.hits;
    out.misses += c.misses;
    out.evictions += c.evictions;
    out.expirations += c.expirations;
    out.entries += c.entries;
    out.bytes += c.bytes;
  }
  return out;
}

}  // namespace cachette
