#pragma once
/// A Redis Cluster / Valkey cluster client, and a Sentinel-following client, as one more
/// implementation of the engine's net::Client.
///
/// Cluster discovery reads the slot map (CLUSTER SHARDS, falling back to CLUSTER SLOTS) from any
/// seed or known node and keeps one pipelined net::Pool per primary (and, with replica reads,
/// one per replica). Each single-key call goes straight to the pool of its slot's primary, so
/// requests for different nodes never wait behind each other. MOVED re-sends the request to the
/// named node and refreshes the map; ASK re-sends it there once, preceded by ASKING; TRYAGAIN
/// and CLUSTERDOWN are retried until the request's deadline. A connection error refreshes the
/// map (rate-limited) and reaches the caller as an error: the caller's fail-open mode turns it
/// into a miss while a replica is being promoted.
///
/// A server with cluster support disabled is used as one shard that serves every slot, so the
/// same client works against a standalone server.
///
/// Sentinel discovery asks the sentinels for the current primary of a service name instead
/// (SENTINEL GET-MASTER-ADDR-BY-NAME), and asks again on connection loss and on a READONLY
/// reply (a demoted primary).
///
/// Whole operations: clear_prefix runs a SCAN MATCH loop on every primary (the pattern's glob
/// characters escaped) and UNLINKs what it finds, one key per command (keys of one node may sit
/// in different slots); flush runs DBSIZE + FLUSHDB in one transaction on every primary and sums
/// the sizes; flush_expired completes with 0 at once (servers expire entries themselves);
/// get_with_ttl is one MULTI/PTTL/GET/EXEC round trip on the key's node.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cachette/net/client.hpp"
#include "cachette/redis/cluster_slots.hpp"
#include "cachette/redis/protocol.hpp"

namespace cachette::redis {

struct ClusterOptions {
  enum class Discovery : std::uint8_t { cluster, sentinel };
  Discovery discovery = Discovery::cluster;
  /// Cluster nodes, or the sentinels. At least one.
  std::vector<NodeAddress> seeds;
  std::string service_name;  ///< Sentinel: the monitored primary's name
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  /// For the data nodes (never sent to sentinels). A cluster only has database 0; a standalone
  /// or Sentinel-managed server honours `db`.
  Credentials credentials;
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds connect_timeout{2000};
  std::size_t pool_size = 2;        ///< connections per node
  std::string kind = "redis";       ///< "redis" or "valkey", for messages
  bool read_from_replicas = false;  ///< get and get_with_ttl from replicas (may lag)
};

/// What discovery found, for tools and tests.
struct ClusterLayout {
  std::size_t shards = 0;  ///< primaries in the slot map (1 for standalone and Sentinel)
  std::size_t covered_slots = 0;
  bool standalone = false;      ///< the seed had cluster support disabled
  std::string primary;          ///< Sentinel: the primary in use ("host:port")
  std::uint64_t refreshes = 0;  ///< successful map reads so far
};

class ClusterClient final : public net::Client {
 public:
  /// Throws Error(invalid_argument) without seeds, or for Sentinel without a service name.
  explicit ClusterClient(ClusterOptions options);
  ~ClusterClient() override;
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  void get(std::string_view key, const Queue& queue, void* token) override;
  void get_with_ttl(std::string_view key, const Queue& queue, void* token) override;
  void set(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token) override;
  void add(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token) override;
  void del(std::string_view key, const Queue& queue, void* token) override;
  void del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                    void* token) override;
  void get_many(std::span<const std::string_view> keys, const Queue& queue, void* token) override;
  void set_many(std::span<const KeyValue> items, std::int64_t ttl_ms, const Queue& queue,
                void* token) override;
  void clear_prefix(std::string_view prefix, const Queue& queue, void* token) override;
  void flush(const Queue& queue, void* token) override;
  void flush_expired(const Queue& queue, void* token) override;

  /// Reads the slot map (or asks the sentinels) now: ok once done, or an error.
  void refresh(const Queue& queue, void* token);
  ClusterLayout layout() const;

  void close() override;
  net::ClientStats stats() const override;
  const std::string& name() const override;

  struct State;  // cluster.cpp

 private:
  std::shared_ptr<State> state_;
};

}  // namespace cachette::redis
