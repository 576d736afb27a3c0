#pragma once
// Private to the cluster client (cluster.cpp, cluster_topology.cpp, cluster_ops.cpp): the
// shared state, the topology snapshot, and the Step interface every request journey follows.

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cachette/net/connection.hpp"
#include "cachette/net/pool.hpp"
#include "cachette/redis/cluster.hpp"
#include "cachette/redis/cluster_protocol.hpp"

namespace cachette::redis {

using Queue = net::Client::Queue;
using net::Clock;
using net::Result;

/// One immutable reading of the slot map, with the pools that serve it.
struct Topology {
  SlotMap map;
  std::vector<std::shared_ptr<net::Pool>> primaries;  ///< by shard
  std::vector<std::vector<std::shared_ptr<net::Pool>>> replicas;
  bool standalone = false;
  std::string primary;  ///< "host:port" of the first primary, for ClusterLayout
};

/// A request's journey through the cluster (redirections, retries, fan-out). Its pool requests
/// carry the Step as their token and complete on the relay queue, which the I/O thread drains:
/// on_result() always runs on the I/O thread. A Step deletes itself once it has reported.
struct Step {
  virtual ~Step() = default;
  virtual void on_result(Result&& result) = 0;
  /// Sends the request where the current map says (steps parked before the first map).
  virtual void route() {}
};

/// Where a child step (one key of get_many, one primary of flush) reports.
struct Parent {
  virtual ~Parent() = default;
  virtual void child_done(std::size_t index, Result&& result) = 0;
};

enum class PoolRole : std::uint8_t { primary, replica, sentinel };

struct ClusterClient::State : std::enable_shared_from_this<State> {
  State(ClusterOptions options, asio::io_context& context);

  // --- any thread
  /// The pool for a node (created on first use); nullptr once closed.
  std::shared_ptr<net::Pool> pool_for(const NodeAddress& address, PoolRole role);
  std::shared_ptr<const Topology> snapshot() const;
  /// Asks the I/O thread for a fresh map (at most one read per kRefreshInterval).
  void request_refresh();
  /// Counted completion towards the caller: batched while the relay is being drained.
  void complete(const Queue& queue, void* token, Result&& result);
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  /// Host used when a node is announced without one.
  const std::string& default_host() const { return options.seeds.front().host; }

  // --- I/O thread
  void watch_relay();
  void drain_relay();
  void refresh_soon(bool now);
  void on_refresh_result(Result&& result);
  void close_on_io();

  ClusterOptions options;
  std::string name;
  asio::io_context& io;
  std::shared_ptr<const Credentials> credentials;
  std::shared_ptr<const Credentials> no_credentials;
  std::shared_ptr<net::HitCounters> counters;
  std::shared_ptr<net::HitCounters> sentinel_counters;  // sentinel queries are not cache hits
  std::shared_ptr<TopologyInbox> inbox;
  std::shared_ptr<net::CompletionQueue> relay;
  asio::posix::stream_descriptor watcher;
  asio::steady_timer refresh_timer;

  mutable std::mutex mutex;  // guards the members up to `parked`
  std::shared_ptr<const Topology> topology;
  std::unordered_map<std::string, std::shared_ptr<net::Pool>> pools;
  std::vector<Step*> parked;  // requests waiting for the first map (re-routed once it exists)
  std::vector<std::pair<Queue, void*>> refresh_waiters;

  std::atomic<bool> closed_{false};
  std::atomic<bool> refresh_requested{false};
  std::atomic<std::int64_t> live{0};  // steps not yet reported
  std::atomic<std::uint64_t> requests{0}, errors{0}, timeouts{0}, refreshes{0};
  std::atomic<std::size_t> replica_turn{0};

  // I/O thread only
  bool refreshing = false;
  bool refresh_again = false;
  bool timer_armed = false;
  Clock::time_point last_refresh{};
  std::vector<NodeAddress> candidates;
  std::size_t candidate = 0;
  bool use_cluster_slots = false;
  std::string refresh_error;
  Errc refresh_error_code = Errc::connection;
  struct RefreshStep final : Step {
    State* state = nullptr;
    void on_result(Result&& result) override { state->on_refresh_result(std::move(result)); }
  } refresh_step;

 private:
  void start_refresh();
  void try_candidate();
  void install(std::vector<Shard> shards, bool standalone, const NodeAddress& answered);
  void finish_refresh(bool ok);
};

inline constexpr auto kRefreshInterval = std::chrono::milliseconds(100);

}  // namespace cachette::redis
