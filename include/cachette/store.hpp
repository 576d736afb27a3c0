#pragma once
/// The synchronous store interface shared by the local stores (memory, file).
/// Keys and values are byte strings; the engine never interprets them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cachette {

/// TTL value meaning "the entry never expires".
inline constexpr std::int64_t kNoExpiry = -1;

/// A value read together with its remaining lifetime.
struct Entry {
  std::string value;
  std::int64_t ttl_ms = kNoExpiry;  ///< remaining milliseconds, or kNoExpiry
  std::int64_t age_ms = 0;          ///< milliseconds since the value was written
};

/// Counters every store keeps; all are cumulative except entries and bytes.
struct StoreStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;    ///< entries removed to stay within the byte budget
  std::uint64_t expirations = 0;  ///< expired entries reclaimed (lazily or by flush_expired)
  std::uint64_t entries = 0;      ///< live entries now
  std::uint64_t bytes = 0;        ///< bytes charged against the budget now
  std::uint64_t capacity = 0;     ///< the byte budget (0 = unlimited)
};

class Store {
 public:
  virtual ~Store() = default;

  /// Receives a value while it is still in place (no copy is made by the store).
  using Sink = void (*)(void* context, std::string_view value, std::int64_t ttl_ms,
                        std::int64_t age_ms);

  /// Calls `sink` once with the live value under `key` and returns true; returns false
  /// when the key is absent or expired. `sink` must not call back into the store.
  virtual bool visit(std::string_view key, Sink sink, void* context) = 0;

  /// Receives a value and its stamp. A stamp names one write of one entry: two reads that
  /// give the same non-zero stamp gave the same bytes, so a reader may reuse what it built
  /// from the first instead of reading the bytes again. 0 means the store keeps no stamps.
  using StampedSink = void (*)(void* context, std::string_view value, std::uint64_t stamp);
  /// visit() with the entry's stamp; stores without stamps (the default) pass 0.
  virtual bool visit_stamped(std::string_view key, StampedSink sink, void* context);

  /// The value under `key`, or nullopt when absent or expired.
  std::optional<std::string> get(std::string_view key);
  /// The value and its remaining TTL, or nullopt when absent or expired.
  std::optional<Entry> get_with_ttl(std::string_view key);
  /// Stores `value` under `key`; `ttl_ms` > 0 sets an expiry, kNoExpiry keeps it forever.
  /// Throws Error(value_too_large) when the entry can never fit.
  virtual void put(std::string_view key, std::string_view value, std::int64_t ttl_ms) = 0;
  /// put() that returns the stamp of the entry it replaced (see visit_stamped): 0 when there
  /// was none, or the store keeps no stamps.
  virtual std::uint64_t put_stamped(std::string_view key, std::string_view value,
                                    std::int64_t ttl_ms);
  /// Removes `key`; returns 1 if a live entry was removed, else 0.
  virtual std::uint64_t erase(std::string_view key) = 0;
  /// Removes every live entry whose key starts with `prefix`; returns how many.
  virtual std::uint64_t erase_prefix(std::string_view prefix) = 0;
  /// Removes every entry; returns how many live entries were removed.
  virtual std::uint64_t flush() = 0;
  /// Reclaims every expired entry; returns how many.
  virtual std::uint64_t flush_expired() = 0;
  virtual StoreStats stats() const = 0;
};

}  // namespace cachette
