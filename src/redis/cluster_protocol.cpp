#include "cachette/redis/cluster_protocol.hpp"

#include "cachette/resp/encoder.hpp"

namespace cachette::redis {

using net::Result;
using resp::Node;
using resp::Type;

namespace {

// Per-key batches keep one slot per key; grows as replies arrive.
void ensure_slot(Result& result, std::uint16_t index) {
  result.kind = Result::Kind::values;
  if (result.items.size() <= index) {
    result.items.resize(index + 1u);
    result.present.resize(index + 1u, 0);
  }
}

}  // namespace

ClusterProtocol::ClusterProtocol(std::shared_ptr<const Credentials> credentials,
                                 std::shared_ptr<net::HitCounters> counters,
                                 std::shared_ptr<TopologyInbox> inbox, bool readonly)
    : RespProtocol(std::move(credentials), counters),
      counters_(std::move(counters)),
      inbox_(std::move(inbox)),
      readonly_(readonly) {}

std::span<const net::Request> ClusterProtocol::handshake(std::string& out) {
  std::span<const net::Request> base = RespProtocol::handshake(out);
  if (!readonly_) return base;
  steps_.assign(base.begin(), base.end());
  out.append("*1\r\n$8\r\nREADONLY\r\n");
  steps_.push_back({op_readonly, 1, nullptr, nullptr, {}, 0});
  return steps_;
}

void ClusterProtocol::decode(std::uint16_t op, std::uint16_t index, std::span<const Node> reply,
                             Result& result) {
  const Node& root = reply[0];
  if ((op & kAsking) != 0) {
    if (index == 0) {  // the reply to ASKING itself
      if (root.is_error()) result.set_error(Errc::protocol, std::string(root.text));
      return;
    }
    op = static_cast<std::uint16_t>(op & ~kAsking);
    --index;
  }
  switch (op) {
    case op_cluster_shards:
    case op_cluster_slots: {
      if (root.is_error()) {
        result.set_error(Errc::protocol, std::string(root.text));
        return;
      }
      auto shards =
          op == op_cluster_shards ? parse_cluster_shards(reply) : parse_cluster_slots(reply);
      if (!shards) {
        result.set_error(Errc::protocol, "unexpected reply to the cluster topology query");
        return;
      }
      std::lock_guard lock(inbox_->mutex);
      inbox_->shards = std::move(shards);
      result.kind = Result::Kind::ok;
      return;
    }
    case op_readonly:
      if (root.is_error()) {
        result.set_error(Errc::protocol, "READONLY failed: " + std::string(root.text));
      } else {
        result.kind = Result::Kind::ok;
      }
      return;
    case op_get_each:
    case op_set_each:
      ensure_slot(result, index);
      if (root.is_error()) {
        result.present[index] = 2;
        result.items[index].assign(root.text);
      } else if (op == op_set_each) {
        result.present[index] = 1;
      } else if (root.is_text()) {
        result.present[index] = 1;
        result.items[index].assign(root.text);
        counters_->hits.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters_->misses.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    case op_unlink_each:
      if (root.is_error()) {
        result.set_error(classify_error(root.text), std::string(root.text));
        return;
      }
      if (index == 0 && result.kind != Result::Kind::error) {
        result.kind = Result::Kind::integer;
        result.integer = 0;
      }
      if (root.type == Type::integer) result.integer += root.integer;
      return;
    default: RespProtocol::decode(op, index, reply, result); return;
  }
}

}  // namespace cachette::redis
