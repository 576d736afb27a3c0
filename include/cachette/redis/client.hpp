#pragma once
/// A Redis or Valkey client on the shared network engine. Every call returns at once; its
/// Completion (with the caller's token) arrives later on the CompletionQueue it names.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "cachette/net/pool.hpp"
#include "cachette/redis/protocol.hpp"

namespace cachette::redis {

struct ClientOptions {
  net::Endpoint endpoint;
  Credentials credentials;
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds connect_timeout{2000};
  std::size_t pool_size = 2;
  std::string kind = "redis";  ///< "redis" or "valkey", for messages
};

/// Largest value a Redis server accepts by default (proto-max-bulk-len).
inline constexpr std::size_t kMaxValueSize = 512u << 20;

class Client {
 public:
  using Queue = std::shared_ptr<net::CompletionQueue>;

  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void get(std::string_view key, const Queue& queue, void* token);
  /// ttl_value (remaining ms, -1 without expiry) or nil, read atomically (MULTI/EXEC).
  void get_with_ttl(std::string_view key, const Queue& queue, void* token);
  /// SET with PX `ttl_ms` when positive. Throws Error(value_too_large) above kMaxValueSize.
  void set(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token);
  void del(std::string_view key, const Queue& queue, void* token);
  /// One SCAN step over keys starting with `prefix`; the pattern escapes its glob characters.
  void scan_prefix(std::int64_t cursor, std::string_view prefix, std::int64_t count,
                   const Queue& queue, void* token);
  void unlink(std::span<const std::string_view> keys, const Queue& queue, void* token);
  /// FLUSHDB of the configured database; the integer is DBSIZE just before.
  void flush(const Queue& queue, void* token);
  void command(std::span<const std::string_view> args, const Queue& queue, void* token);

  void close() { pool_->close(); }
  net::PoolStats stats() const { return pool_->stats(); }
  const Counters& counters() const { return *counters_; }
  /// "redis 127.0.0.1:6379" - names the server, never the credentials.
  const std::string& name() const { return pool_->options().name; }

 private:
  std::shared_ptr<Counters> counters_;
  std::shared_ptr<net::Pool> pool_;
};

}  // namespace cachette::redis
