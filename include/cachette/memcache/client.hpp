#pragma once
/// A memcached client on the shared network engine: one connection pool per server, keys routed
/// by a consistent-hash ring, requests pipelined by the engine. Every call returns at once; its
/// Completion (carrying the caller's token) arrives later on the CompletionQueue it names.
///
/// Keys are arbitrary bytes, mapped onto memcached keys by keys.hpp. Results are net::Results:
/// see the Op list in engine_protocol.hpp for the shape each call produces.
///
/// clear(namespace=) and flush are several steps (docs/memcached-namespaces.md): the caller runs
/// dump_prefix()/dump_count() on each server, then delete_stored()/flush_all() there. Each dump
/// gets a connection of its own, opened for it and closed after it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cachette/memcache/engine_protocol.hpp"
#include "cachette/memcache/ring.hpp"
#include "cachette/net/pool.hpp"

namespace cachette::memcache {

struct ServerOptions {
  net::Endpoint endpoint;
  Credentials credentials;  ///< for servers started with -Y; empty = no login
  std::uint32_t weight = 1;
};

struct ClientOptions {
  std::vector<ServerOptions> servers;
  std::chrono::milliseconds timeout{2000};          ///< per request
  std::chrono::milliseconds connect_timeout{2000};  ///< per connection attempt
  /// A key dump reads every item of a server, so it may take longer than one request.
  std::chrono::milliseconds dump_timeout{60000};
  std::size_t pool_size = 2;           ///< connections per server
  std::size_t max_value = 256u << 20;  ///< largest value accepted from a server
};

class Client {
 public:
  using Queue = std::shared_ptr<net::CompletionQueue>;

  /// Throws Error(invalid_argument) without servers or with a server listed twice.
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// value | nil.
  void get(std::string_view key, const Queue& queue, void* token);
  /// ttl_value (remaining ms, -1 when the item never expires) | nil, in one round trip.
  void get_with_ttl(std::string_view key, const Queue& queue, void* token);
  /// ok. `ttl_ms` > 0 expires the item after that many ms, rounded up to whole seconds; <= 0
  /// never expires. Throws Error(invalid_argument) for a TTL over memcached's 30 days. A value
  /// over the server's item size limit completes with Errc::value_too_large and leaves the key
  /// absent (memcached drops the previous value when a set fails for size).
  void set(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token);
  /// integer: 1 if the key existed, else 0.
  void del(std::string_view key, const Queue& queue, void* token);

  std::size_t server_count() const noexcept { return servers_.size(); }
  /// "memcached 127.0.0.1:11211": names a server, never its credentials.
  const std::string& server_name(std::size_t server) const;
  /// Index of the server that owns `key`.
  std::size_t server_of(std::string_view key) const noexcept;

  /// Lists, on one server, the stored keys whose user key starts with `prefix`: list (the stored
  /// keys, for delete_stored; `integer` = keys left undecided, see PrefixScan) | nil when the
  /// server's crawler is busy (retry later) | error.
  void dump_prefix(std::size_t server, std::string_view prefix, const Queue& queue, void* token);
  /// Counts the live items on one server: integer | nil when busy | error.
  void dump_count(std::size_t server, const Queue& queue, void* token);
  /// Deletes stored keys (as dump_prefix returned them) from one server, pipelined: integer, how
  /// many existed. At most 65535 keys per call.
  void delete_stored(std::size_t server, std::span<const std::string> stored, const Queue& queue,
                     void* token);
  /// flush_all on one server: ok.
  void flush_all(std::size_t server, const Queue& queue, void* token);

  /// Fails everything pending with Errc::closed and closes every connection.
  void close();

  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    std::uint64_t timeouts = 0;
    std::uint64_t connected = 0;  ///< connections ready now, all servers
  };
  Stats stats() const;

 private:
  struct Server {
    std::shared_ptr<const ServerContext> context;
    std::shared_ptr<net::Pool> pool;
    net::PoolOptions dump_options;  // make_protocol is filled per dump
  };
  struct Dump {
    std::shared_ptr<net::Pool> pool;
    std::shared_ptr<DumpJob> job;
  };

  // Servers are added to the ring in servers_ order and never removed, so indices agree.
  Server& route(std::string_view key) noexcept { return servers_[ring_.locate(key)]; }
  void start_dump(std::size_t server, std::shared_ptr<DumpJob> job, const Queue& queue,
                  void* token);

  std::shared_ptr<Counters> counters_;
  std::vector<Server> servers_;
  HashRing ring_;
  std::mutex dumps_mutex_;
  std::vector<Dump> dumps_;  // dumps in progress; finished ones are dropped on the next dump
};

}  // namespace cachette::memcache
