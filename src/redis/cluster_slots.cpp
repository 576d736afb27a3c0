#include "cachette/redis/cluster_slots.hpp"

#include <charconv>

namespace cachette::redis {

using resp::Node;
using resp::Type;

namespace {

constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i << 8;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = static_cast<std::uint16_t>(crc);
  }
  return table;
}

constexpr std::array<std::uint16_t, 256> kCrcTable = make_crc_table();

std::uint16_t crc16(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (unsigned char c : bytes) {
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xFF]);
  }
  return crc;
}

bool is_aggregate(Type t) {
  return t == Type::array || t == Type::map || t == Type::set || t == Type::push;
}

/// A read-only cursor over a pre-order reply; every access is bounds-checked so that a
/// truncated or oddly shaped reply yields "malformed" rather than a wild read.
class Tree {
 public:
  explicit Tree(std::span<const Node> nodes) : nodes_(nodes) {}

  const Node* at(std::size_t i) const { return i < nodes_.size() ? &nodes_[i] : nullptr; }

  /// Index just past the subtree at `i`, or nullopt if it runs off the end.
  std::optional<std::size_t> skip(std::size_t i, int depth = 0) const {
    const Node* n = at(i);
    if (n == nullptr || depth > 64) return std::nullopt;
    ++i;
    if (!is_aggregate(n->type)) return i;
    const std::uint64_t children = std::uint64_t{n->size} * (n->type == Type::map ? 2 : 1);
    for (std::uint64_t c = 0; c < children; ++c) {
      auto next = skip(i, depth + 1);
      if (!next) return std::nullopt;
      i = *next;
    }
    return i;
  }

  /// The indices of the direct children of the aggregate at `i` (keys and values alike for
  /// maps), or nullopt.
  std::optional<std::vector<std::size_t>> children(std::size_t i) const {
    const Node* n = at(i);
    if (n == nullptr || !is_aggregate(n->type)) return std::nullopt;
    const std::uint64_t count = std::uint64_t{n->size} * (n->type == Type::map ? 2 : 1);
    if (count > nodes_.size()) return std::nullopt;
    std::vector<std::size_t> out;
    out.reserve(count);
    std::size_t c = i + 1;
    for (std::uint64_t k = 0; k < count; ++k) {
      out.push_back(c);
      auto next = skip(c);
      if (!next) return std::nullopt;
      c = *next;
    }
    return out;
  }

 private:
  std::span<const Node> nodes_;
};

std::optional<std::int64_t> as_integer(const Node* n) {
  if (n == nullptr) return std::nullopt;
  if (n->type == Type::integer) return n->integer;
  if (!n->is_text()) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(n->text.data(), n->text.data() + n->text.size(), v);
  if (ec != std::errc() || end != n->text.data() + n->text.size()) return std::nullopt;
  return v;
}

std::optional<std::uint16_t> as_slot(const Node* n) {
  auto v = as_integer(n);
  if (!v || *v < 0 || *v >= kSlotCount) return std::nullopt;
  return static_cast<std::uint16_t>(*v);
}

std::optional<std::uint16_t> as_port(const Node* n) {
  auto v = as_integer(n);
  if (!v || *v <= 0 || *v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*v);
}

// A host the cluster could not name ("?" or empty) is left empty for the caller to fill in.
std::string host_text(std::string_view s) {
  return s == "?" ? std::string() : std::string(s);
}

struct ShardNode {
  NodeAddress address;
  bool primary = false;
  bool online = true;
};

std::optional<ShardNode> parse_shard_node(const Tree& tree, std::size_t index) {
  auto fields = tree.children(index);
  if (!fields || fields->size() % 2 != 0) return std::nullopt;
  ShardNode node;
  std::string ip;
  std::string endpoint;
  bool have_endpoint = false;
  for (std::size_t k = 0; k + 1 < fields->size(); k += 2) {
    const Node* key = tree.at((*fields)[k]);
    const Node* value = tree.at((*fields)[k + 1]);
    if (key == nullptr || value == nullptr || !key->is_text()) return std::nullopt;
    if (key->text == "port") {
      auto port = as_port(value);
      if (!port) return std::nullopt;
      node.address.port = *port;
    } else if (key->text == "ip" && value->is_text()) {
      ip = host_text(value->text);
    } else if (key->text == "endpoint" && value->is_text()) {
      endpoint = host_text(value->text);
      have_endpoint = true;
    } else if (key->text == "role" && value->is_text()) {
      node.primary = value->text == "master" || value->text == "primary";
    } else if (key->text == "health" && value->is_text()) {
      node.online = value->text == "online";
    }
  }
  // A TLS-only node announces no plain port; it is not usable over the plain port.
  if (node.address.port == 0) return std::nullopt;
  node.address.host = have_endpoint && !endpoint.empty() ? endpoint : ip;
  return node;
}

}  // namespace

std::uint16_t key_slot(std::string_view key) noexcept {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16(key) & (kSlotCount - 1);
}

SlotMap::SlotMap(std::vector<Shard> shards) {
  owner_.fill(kNoShard);
  for (Shard& shard : shards) {
    if (shard.primary.port == 0 || shard.ranges.empty()) continue;
    const auto index = static_cast<std::uint16_t>(shards_.size());
    for (auto [first, last] : shard.ranges) {
      for (std::uint32_t s = first; s <= last && s < kSlotCount; ++s) owner_[s] = index;
    }
    shards_.push_back(std::move(shard));
  }
}

std::size_t SlotMap::covered() const {
  std::size_t n = 0;
  for (std::uint16_t o : owner_) n += o != kNoShard;
  return n;
}

std::optional<std::vector<Shard>> parse_cluster_shards(std::span<const Node> reply) {
  const Tree tree(reply);
  auto shard_list = tree.children(0);
  if (!shard_list) return std::nullopt;
  std::vector<Shard> out;
  for (std::size_t shard_index : *shard_list) {
    auto fields = tree.children(shard_index);
    if (!fields || fields->size() % 2 != 0) return std::nullopt;
    Shard shard;
    bool have_primary = false;
    for (std::size_t k = 0; k + 1 < fields->size(); k += 2) {
      const Node* key = tree.at((*fields)[k]);
      if (key == nullptr || !key->is_text()) return std::nullopt;
      const std::size_t value = (*fields)[k + 1];
      if (key->text == "slots") {
        auto bounds = tree.children(value);
        if (!bounds || bounds->size() % 2 != 0) return std::nullopt;
        for (std::size_t b = 0; b + 1 < bounds->size(); b += 2) {
          auto first = as_slot(tree.at((*bounds)[b]));
          auto last = as_slot(tree.at((*bounds)[b + 1]));
          if (!first || !last || *first > *last) return std::nullopt;
          shard.ranges.emplace_back(*first, *last);
        }
      } else if (key->text == "nodes") {
        auto nodes = tree.children(value);
        if (!nodes) return std::nullopt;
        for (std::size_t n : *nodes) {
          auto node = parse_shard_node(tree, n);
          if (!node) continue;  // e.g. a TLS-only node
          if (node->primary && !have_primary) {
            shard.primary = std::move(node->address);
            have_primary = true;
          } else if (!node->primary && node->online) {
            shard.replicas.push_back(std::move(node->address));
          }
        }
      }
    }
    // A shard whose primary is gone (all nodes failed, or a replica-only entry) serves nothing.
    if (have_primary && !shard.ranges.empty()) out.push_back(std::move(shard));
  }
  return out;
}

std::optional<std::vector<Shard>> parse_cluster_slots(std::span<const Node> reply) {
  const Tree tree(reply);
  auto ranges = tree.children(0);
  if (!ranges) return std::nullopt;
  std::vector<Shard> out;
  for (std::size_t r : *ranges) {
    auto items = tree.children(r);
    if (!items || items->size() < 3) return std::nullopt;
    auto first = as_slot(tree.at((*items)[0]));
    auto last = as_slot(tree.at((*items)[1]));
    if (!first || !last || *first > *last) return std::nullopt;
    Shard shard;
    shard.ranges.emplace_back(*first, *last);
    for (std::size_t i = 2; i < items->size(); ++i) {
      auto parts = tree.children((*items)[i]);
      if (!parts || parts->size() < 2) return std::nullopt;
      const Node* host = tree.at((*parts)[0]);
      auto port = as_port(tree.at((*parts)[1]));
      if (host == nullptr || !host->is_text() || !port) return std::nullopt;
      NodeAddress address{host_text(host->text), *port};
      if (i == 2) {
        shard.primary = std::move(address);
      } else {
        shard.replicas.push_back(std::move(address));
      }
    }
    // CLUSTER SLOTS lists each range of a primary separately: merge them into one shard.
    bool merged = false;
    for (Shard& existing : out) {
      if (existing.primary == shard.primary) {
        existing.ranges.push_back(shard.ranges.front());
        merged = true;
        break;
      }
    }
    if (!merged) out.push_back(std::move(shard));
  }
  return out;
}

std::optional<Redirect> parse_redirect(std::string_view message) {
  Redirect r;
  if (message.starts_with("MOVED ")) {
    r.kind = Redirect::Kind::moved;
    message.remove_prefix(6);
  } else if (message.starts_with("ASK ")) {
    r.kind = Redirect::Kind::ask;
    message.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const std::size_t space = message.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::uint32_t slot = 0;
  const std::string_view slot_text = message.substr(0, space);
  auto [end, ec] = std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot);
  if (ec != std::errc() || end != slot_text.data() + slot_text.size() || slot >= kSlotCount) {
    return std::nullopt;
  }
  r.slot = static_cast<std::uint16_t>(slot);
  std::string_view address = message.substr(space + 1);
  const std::size_t space2 = address.find(' ');
  if (space2 != std::string_view::npos) address = address.substr(0, space2);
  const std::size_t colon = address.rfind(':');  // IPv6 hosts contain colons too
  if (colon == std::string_view::npos) return std::nullopt;
  std::uint32_t port = 0;
  const std::string_view port_text = address.substr(colon + 1);
  auto [pend, pec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (pec != std::errc() || pend != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  r.target.host = host_text(address.substr(0, colon));
  r.target.port = static_cast<std::uint16_t>(port);
  return r;
}

}  // namespace cachette::redis
