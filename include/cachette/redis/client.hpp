#pragma once
/// A Redis or Valkey client on the shared network engine: net::Client over one connection pool.
/// Every call returns at once; its Completion (with the caller's token) arrives later on the
/// CompletionQueue it names.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "cachette/net/client.hpp"
#include "cachette/net/pool.hpp"
#include "cachette/options.hpp"
#include "cachette/redis/protocol.hpp"

namespace cachette::redis {

struct ClientOptions {
  net::Endpoint endpoint;
  Credentials credentials;
  std::chrono::milliseconds timeout = kDefaults.timeout;
  std::chrono::milliseconds connect_timeout = kDefaults.connect_timeout;
  std::size_t pool_size = kDefaults.pool_size;
  std::string kind = "redis";  ///< "redis" or "valkey", for messages
};

/// Largest value a Redis server accepts by default (proto-max-bulk-len).
inline constexpr std::size_t kMaxValueSize = 512u << 20;
/// Keys a namespace clear asks each SCAN step for.
inline constexpr std::int64_t kScanCount = 1000;

class Client final : public net::Client {
 public:
  explicit Client(ClientOptions options);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void get(std::string_view key, const Queue& queue, void* token) override;
  /// ttl_value (remaining ms, -1 without expiry) or nil, read atomically (MULTI/EXEC).
  void get_with_ttl(std::string_view key, const Queue& queue, void* token) override;
  /// SET with PX `ttl_ms` when positive. Throws Error(value_too_large) above kMaxValueSize.
  void set(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token) override;
  /// SET NX [PX].
  void add(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token) override;
  void del(std::string_view key, const Queue& queue, void* token) override;
  /// EVAL of one fixed compare-and-delete script; the key and value travel as its arguments.
  void del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                    void* token) override;
  /// One MGET.
  void get_many(std::span<const std::string_view> keys, const Queue& queue, void* token) override;
  /// Pipelined SETs, one request (one round trip) per 65535 items.
  void set_many(std::span<const KeyValue> items, std::int64_t ttl_ms, const Queue& queue,
                void* token) override;
  /// SCAN MATCH <escaped prefix>* steps, each followed by an UNLINK of what it found.
  void clear_prefix(std::string_view prefix, const Queue& queue, void* token) override;
  /// FLUSHDB of the configured database; the integer is DBSIZE just before.
  void flush(const Queue& queue, void* token) override;
  /// integer 0 at once: the server expires entries itself.
  void flush_expired(const Queue& queue, void* token) override;

  /// One SCAN step over keys starting with `prefix`; the pattern escapes its glob characters.
  void scan_prefix(std::int64_t cursor, std::string_view prefix, std::int64_t count,
                   const Queue& queue, void* token);
  void unlink(std::span<const std::string_view> keys, const Queue& queue, void* token);
  /// Any command, reply in its natural shape (tests and tools).
  void command(std::span<const std::string_view> args, const Queue& queue, void* token);

  void close() override { pool_->close(); }
  net::ClientStats stats() const override;
  /// "redis 127.0.0.1:6379" - names the server, never the credentials.
  const std::string& name() const override { return pool_->options().name; }

 private:
  std::shared_ptr<net::HitCounters> counters_;
  std::shared_ptr<net::Pool> pool_;
};

}  // namespace cachette::redis
