#pragma once
/// Every default of cachette, written once. The engine's option structs take their defaults
/// from here, and the Python binding exports them (``cachette._core.DEFAULT_*``) for the
/// configuration (python/cachette/config.py) and the backends to read: no default is written
/// twice in the tree.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cachette {

struct Options {
  /// Seconds an entry lives when put() names no ttl (configuration key `ttl`).
  std::int64_t ttl_seconds = 60;
  /// Byte budget of the in-memory store (`max_memory`).
  std::uint64_t max_memory = 256ull << 20;
  /// Shards of the in-memory store (a power of two; more shards, less lock contention).
  std::uint32_t memory_shards = 16;
  /// Per round trip of a network backend (`timeout`).
  std::chrono::milliseconds timeout{2000};
  /// Per connection attempt of a network backend (`connect_timeout`).
  std::chrono::milliseconds connect_timeout{2000};
  /// Connections per server of a network backend (`pool_size`).
  std::size_t pool_size = 2;
  /// Bytes the file store may hold before eviction (`pickle_max_size`). Bounded by default
  /// like the in-memory store: a cache must not fill a disk unless asked to (0 = unlimited,
  /// an explicit opt-in). See docs/configuration.md.
  std::uint64_t file_max_size = 1ull << 30;
  /// Address space the file store maps at first; the map doubles whenever it fills.
  std::uint64_t file_initial_map_size = 64ull << 20;
  /// MongoDB database and collection (`database_name`, `table_name`), as in cachette 0.1.x.
  std::string_view database_name = "cachette-db";
  std::string_view table_name = "cachette";
  /// How long a stampede-protected miss waits for the lock holder before computing the value
  /// itself (`lock_timeout` of memoize, get_or_set and the HTTP middleware).
  std::chrono::milliseconds lock_timeout{5000};
};

/// The defaults themselves.
inline constexpr Options kDefaults{};

}  // namespace cachette
