#pragma once
/// In-process memory store: sharded hash table with per-entry expiry and a byte
/// budget enforced by SIEVE eviction. All entry data lives in one arena addressed
/// by offsets, so the same layout can later be placed in a shared mapping.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "cachette/options.hpp"
#include "cachette/store.hpp"

namespace cachette {

struct MemoryStoreOptions {
  std::uint64_t max_memory = kDefaults.max_memory;  ///< byte budget: keys, values, entry headers
  std::uint32_t shards = kDefaults.memory_shards;   ///< power of two; more, less lock contention
  /// Monotonic milliseconds for expiry; empty = the steady clock (monotonic_ms). Tests inject a
  /// manual clock so that expiry is exercised without sleeping.
  std::function<std::int64_t()> clock;
};

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(const MemoryStoreOptions& options = {});
  ~MemoryStore() override;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  bool visit(std::string_view key, Sink sink, void* context) override;
  bool visit_stamped(std::string_view key, StampedSink sink, void* context) override;
  void put(std::string_view key, std::string_view value, std::int64_t ttl_ms) override;
  std::uint64_t put_stamped(std::string_view key, std::string_view value,
                            std::int64_t ttl_ms) override;
  std::uint64_t erase(std::string_view key) override;
  std::uint64_t erase_prefix(std::string_view prefix) override;
  std::uint64_t flush() override;
  std::uint64_t flush_expired() override;
  StoreStats stats() const override;

 private:
  // visit() in the key's shard under its lock; stores the entry's stamp in `stamp` if given.
  bool visit_shard(std::string_view key, Sink sink, void* context, std::uint64_t* stamp);

  struct Shared;
  std::unique_ptr<Shared> shared_;
};

}  // namespace cachette
