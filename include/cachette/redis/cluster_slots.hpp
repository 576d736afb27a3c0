#pragma once
/// Sans-I/O pieces of Redis Cluster routing: the key slot (CRC16 with {hash tags}), the slot map
/// read from CLUSTER SHARDS or CLUSTER SLOTS replies, and the MOVED / ASK redirections. Nothing
/// here performs I/O; the cluster client (cluster.hpp) drives them.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cachette/resp/parser.hpp"

namespace cachette::redis {

inline constexpr std::uint16_t kSlotCount = 16384;

/// The slot of `key`: CRC16 (XMODEM) of the key, or of the first non-empty {tag} in it, mod 16384.
std::uint16_t key_slot(std::string_view key) noexcept;

struct NodeAddress {
  std::string host;  ///< as the cluster announces it; empty when the node did not say
  std::uint16_t port = 0;
  bool operator==(const NodeAddress&) const = default;
  std::string text() const { return host + ":" + std::to_string(port); }
};

/// One primary, the slot ranges it serves and its replicas that are online.
struct Shard {
  std::vector<std::pair<std::uint16_t, std::uint16_t>> ranges;  ///< inclusive [first, last]
  NodeAddress primary;
  std::vector<NodeAddress> replicas;
};

/// Slot -> shard index, built from shards; slots nobody serves map to kNoShard.
class SlotMap {
 public:
  static constexpr std::uint16_t kNoShard = 0xFFFF;

  SlotMap() { owner_.fill(kNoShard); }
  /// Shards without a usable primary or without slots are dropped. When two shards claim a
  /// slot, the later one wins (a reply taken mid-migration may say so briefly).
  explicit SlotMap(std::vector<Shard> shards);

  const std::vector<Shard>& shards() const { return shards_; }
  std::uint16_t shard_of(std::uint16_t slot) const { return owner_[slot % kSlotCount]; }
  /// Slots served by some shard.
  std::size_t covered() const;

 private:
  std::vector<Shard> shards_;
  std::array<std::uint16_t, kSlotCount> owner_{};
};

/// Decodes a CLUSTER SHARDS reply (RESP3 maps or RESP2 flat key/value arrays), given as the
/// parser's pre-order nodes. nullopt when the reply does not have that shape.
std::optional<std::vector<Shard>> parse_cluster_shards(std::span<const resp::Node> reply);

/// Decodes a CLUSTER SLOTS reply. nullopt when the reply does not have that shape.
std::optional<std::vector<Shard>> parse_cluster_slots(std::span<const resp::Node> reply);

struct Redirect {
  enum class Kind : std::uint8_t { moved, ask };
  Kind kind = Kind::moved;
  std::uint16_t slot = 0;
  NodeAddress target;  ///< host may be empty: "the node you asked"
};

/// Parses the text of an error reply "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>";
/// nullopt for any other error.
std::optional<Redirect> parse_redirect(std::string_view message);

}  // namespace cachette::redis
