#pragma once
/// RESP for cluster nodes: the standalone protocol (protocol.hpp) plus the few requests only a
/// cluster client sends - the topology queries, ASKING in front of a redirected request,
/// READONLY for replica connections, and pipelined per-key batches whose replies are kept
/// apart so that one redirected key does not fail its neighbours.

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "cachette/redis/cluster_slots.hpp"
#include "cachette/redis/protocol.hpp"

namespace cachette::redis {

/// Opcodes of the cluster client, beside those of protocol.hpp.
enum ClusterOp : std::uint16_t {
  op_cluster_shards = 0x100,  ///< CLUSTER SHARDS -> ok (the shards go to the TopologyInbox)
  op_cluster_slots,           ///< CLUSTER SLOTS -> ok (likewise)
  op_readonly,                ///< handshake step of replica connections
  op_get_each,     ///< n pipelined GETs -> values; a key whose reply was an error gets present 2
  op_set_each,     ///< n pipelined SETs -> values (present 1 = ok, 2 = error in items[i])
  op_unlink_each,  ///< n pipelined UNLINKs -> integer, the sum
};

/// Added to an opcode when the request is preceded by ASKING (one more reply, read first).
inline constexpr std::uint16_t kAsking = 0x4000;

/// Where topology replies land: the I/O thread stores the parsed shards, the client takes them
/// when the request completes.
struct TopologyInbox {
  std::mutex mutex;
  std::optional<std::vector<Shard>> shards;
};

class ClusterProtocol final : public RespProtocol {
 public:
  ClusterProtocol(std::shared_ptr<const Credentials> credentials,
                  std::shared_ptr<net::HitCounters> counters, std::shared_ptr<TopologyInbox> inbox,
                  bool readonly);

  std::span<const net::Request> handshake(std::string& out) override;

 protected:
  void decode(std::uint16_t op, std::uint16_t index, std::span<const resp::Node> reply,
              net::Result& result) override;

 private:
  std::shared_ptr<net::HitCounters> counters_;
  std::shared_ptr<TopologyInbox> inbox_;
  bool readonly_;
  std::vector<net::Request> steps_;
};

}  // namespace cachette::redis
