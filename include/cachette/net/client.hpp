#pragma once
/// The one interface every network backend's engine client implements (Redis/Valkey,
/// memcached, MongoDB, and later Redis Cluster). The Python binding adapts this interface once,
/// so a new backend is one more implementation of it, not another binding.
///
/// Every call returns at once. Its Completion, carrying the caller's `token`, arrives later on
/// the CompletionQueue the call names: exactly once, whatever happens (success, error reply,
/// timeout, connection loss, close). Each operation below is *whole*: however many round trips it
/// takes on the wire (SCAN loops, key dumps and pipelined deletes, per-node fan-out), the caller
/// sees one completion, and no single round trip may wait longer than the client's timeout.
///
/// Result shapes (net::Result::Kind) per operation:
///   get            value | nil
///   get_with_ttl   ttl_value (integer = remaining ms, -1 when the entry never expires) | nil
///   set            ok
///   add            integer: 1 when stored, 0 when the key already existed (nothing written)
///   del            integer: 1 when the key existed, else 0
///   del_if_equal   integer: 1 when the key held exactly `value` and was removed, else 0
///   get_many       values: items[i] / present[i] for keys[i], in the order given
///   set_many       ok
///   clear_prefix   integer: exactly how many keys starting with `prefix` were removed
///   flush          integer: how many entries this cache held just before
///   flush_expired  integer: how many expired entries were reclaimed (0 where the server
///                  reclaims them itself)
/// Any operation may instead complete with Kind::error (error_code and message).
///
/// `ttl_ms` > 0 expires the entry after that many milliseconds; <= 0 never expires.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "cachette/net/completion.hpp"

namespace cachette::net {

/// Counters every client reports (Cachette.stats() for network backends).
struct ClientStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t connected = 0;  ///< connections ready now, all servers
};

class Client {
 public:
  using Queue = std::shared_ptr<CompletionQueue>;
  using KeyValue = std::pair<std::string_view, std::string_view>;

  virtual ~Client() = default;

  virtual void get(std::string_view key, const Queue& queue, void* token) = 0;
  virtual void get_with_ttl(std::string_view key, const Queue& queue, void* token) = 0;
  virtual void set(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                   const Queue& queue, void* token) = 0;
  /// Stores only when the key is absent: the building block of cross-process locks.
  virtual void add(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                   const Queue& queue, void* token) = 0;
  virtual void del(std::string_view key, const Queue& queue, void* token) = 0;
  /// Removes the key only while it still holds `value` (a lock's owner token), atomically.
  virtual void del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                            void* token) = 0;
  virtual void get_many(std::span<const std::string_view> keys, const Queue& queue,
                        void* token) = 0;
  virtual void set_many(std::span<const KeyValue> items, std::int64_t ttl_ms, const Queue& queue,
                        void* token) = 0;
  virtual void clear_prefix(std::string_view prefix, const Queue& queue, void* token) = 0;
  virtual void flush(const Queue& queue, void* token) = 0;
  virtual void flush_expired(const Queue& queue, void* token) = 0;

  /// Fails everything pending with Errc::closed and closes every connection.
  virtual void close() = 0;
  virtual ClientStats stats() const = 0;
  /// Names the server(s) for messages ("redis 127.0.0.1:6379"), never credentials.
  virtual const std::string& name() const = 0;
};

}  // namespace cachette::net
