#pragma once
/// A memcached client on the shared network engine: net::Client over one connection pool per
/// server, keys routed by a consistent-hash ring, requests pipelined by the engine. Every call
/// returns at once; its Completion (carrying the caller's token) arrives later on the
/// CompletionQueue it names.
///
/// Keys are arbitrary bytes, mapped onto memcached keys by keys.hpp. clear_prefix and flush are
/// whole operations (docs/memcached-namespaces.md): on every server at once, a key dump on a
/// connection of its own (retried while the server's crawler is busy), then pipelined deletes
/// (or flush_all). Each round trip is bounded by `timeout`; a dump, which streams every item of
/// its server, is bounded by `timeout` of silence.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cachette/memcache/protocol.hpp"
#include "cachette/net/client.hpp"
#include "cachette/net/pool.hpp"
#include "cachette/options.hpp"

namespace cachette::memcache {

struct ServerOptions {
  net::Endpoint endpoint;
  Credentials credentials;  ///< for servers started with -Y; empty = no login
  std::uint32_t weight = 1;
};

struct ClientOptions {
  std::vector<ServerOptions> servers;
  std::chrono::milliseconds timeout = kDefaults.timeout;                  ///< per round trip
  std::chrono::milliseconds connect_timeout = kDefaults.connect_timeout;  ///< per attempt
  std::size_t pool_size = kDefaults.pool_size;  ///< connections per server
  std::size_t max_value = 256u << 20;           ///< largest value accepted from a server
};

/// Keys deleted per pipelined request of a namespace clear (replies are counted in 16 bits).
inline constexpr std::size_t kDeleteChunk = 8192;

class Client final : public net::Client {
 public:
  /// Throws Error(invalid_argument) without servers or with a server listed twice.
  explicit Client(ClientOptions options);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void get(std::string_view key, const Queue& queue, void* token) override;
  /// One round trip (mg v t).
  void get_with_ttl(std::string_view key, const Queue& queue, void* token) override;
  /// `ttl_ms` > 0 is rounded up to whole seconds. Throws Error(invalid_argument) for a TTL over
  /// memcached's 30 days. A value over the server's item size limit completes with
  /// Errc::value_too_large and leaves the key absent (memcached drops the previous value when a
  /// set fails for size).
  void set(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token) override;
  /// ms in add mode.
  void add(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token) override;
  void del(std::string_view key, const Queue& queue, void* token) override;
  /// mg with the CAS, then md comparing that CAS: a write in between keeps the key.
  void del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                    void* token) override;
  /// One pipelined request per server.
  void get_many(std::span<const std::string_view> keys, const Queue& queue, void* token) override;
  void set_many(std::span<const KeyValue> items, std::int64_t ttl_ms, const Queue& queue,
                void* token) override;
  void clear_prefix(std::string_view prefix, const Queue& queue, void* token) override;
  /// A counting dump, then flush_all, on every server: the count is what was there just before
  /// (items written in between are removed too but not counted).
  void flush(const Queue& queue, void* token) override;
  /// integer 0 at once: memcached reclaims expired items itself.
  void flush_expired(const Queue& queue, void* token) override;

  /// Fails everything pending with Errc::closed and closes every connection.
  void close() override;
  net::ClientStats stats() const override;
  /// "memcached 127.0.0.1:11211" (servers joined by ", "): never credentials.
  const std::string& name() const override;

  std::size_t server_count() const noexcept;
  /// Index of the server that owns `key`.
  std::size_t server_of(std::string_view key) const noexcept;

  struct Shared;  // what operations in flight share with the client (client.cpp)

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace cachette::memcache
