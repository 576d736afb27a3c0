#pragma once
/// Consistent hashing of keys onto memcached servers (ketama-style ring with virtual nodes).
///
/// Every server owns `points_per_weight * weight` points on a 64-bit circle; a key belongs to the
/// server owning the first point at or after the key's hash. Adding or removing one of N servers
/// therefore moves only about 1/N of the keys, and the placement depends only on the set of
/// (name, weight) pairs, not on the order servers were added, so every process of a deployment
/// that lists the same servers routes a key to the same server.
///
/// Point and key hashes are our own 64-bit hash (hash64), not libmemcached's MD5 ketama: we do not
/// promise placement compatible with other clients sharing the cluster.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cachette::memcache {

/// Portable 64-bit hash (same value on every platform) with full avalanche; not cryptographic.
std::uint64_t hash64(std::string_view bytes) noexcept;

class HashRing {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  explicit HashRing(std::size_t points_per_weight = 160) : points_per_weight_(points_per_weight) {}

  /// Adds a server, e.g. "10.0.0.1:11211". False if the name is already present or weight is 0.
  bool add(std::string_view name, std::uint32_t weight = 1);
  /// False if no server has this name.
  bool remove(std::string_view name);

  std::size_t size() const noexcept { return servers_.size(); }
  bool empty() const noexcept { return servers_.empty(); }
  /// Server names, indexed as locate() returns them; indices shift when a server is removed.
  std::string_view server(std::size_t index) const noexcept { return servers_[index].name; }

  /// Index of the server owning `key`, or npos when the ring is empty.
  std::size_t locate(std::string_view key) const noexcept;

 private:
  struct Server {
    std::string name;
    std::uint32_t weight;
  };
  struct Point {
    std::uint64_t hash;
    std::uint32_t server;
  };

  void rebuild();

  std::size_t points_per_weight_;
  std::vector<Server> servers_;
  std::vector<Point> points_;  // sorted by hash, ties by server name
};

}  // namespace cachette::memcache
