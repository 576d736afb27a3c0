#include "cachette/memcache/ring.hpp"

#include <algorithm>
#include <string>

namespace cachette::memcache {
namespace {

// splitmix64's finaliser: a bijection in which every input bit flips each output bit with
// probability close to 1/2.
std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Little-endian by construction, so the ring places keys identically on every host.
std::uint64_t load_le(const char* p, std::size_t n) noexcept {
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < n; ++i) {
    word |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return word;
}

}  // namespace

std::uint64_t hash64(std::string_view bytes) noexcept {
  std::uint64_t h = mix(0x9e3779b97f4a7c15ULL ^ bytes.size());
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) h = mix(h ^ load_le(bytes.data() + i, 8));
  // The length went into the seed, so a zero-padded tail cannot alias a shorter input.
  if (i < bytes.size()) h = mix(h ^ load_le(bytes.data() + i, bytes.size() - i));
  return mix(h + 0x2545f4914f6cdd1dULL);
}

bool HashRing::add(std::string_view name, std::uint32_t weight) {
  if (weight == 0) return false;
  const auto same = [name](const Server& s) { return s.name == name; };
  if (std::any_of(servers_.begin(), servers_.end(), same)) return false;
  servers_.push_back(Server{std::string(name), weight});
  rebuild();
  return true;
}

bool HashRing::remove(std::string_view name) {
  const auto it = std::find_if(servers_.begin(), servers_.end(),
                               [name](const Server& s) { return s.name == name; });
  if (it == servers_.end()) return false;
  servers_.erase(it);
  rebuild();
  return true;
}

void HashRing::rebuild() {
  points_.clear();
  std::string label;
  for (std::uint32_t s = 0; s < servers_.size(); ++s) {
    const std::size_t count = points_per_weight_ * servers_[s].weight;
    for (std::size_t i = 0; i < count; ++i) {
      label.assign(servers_[s].name);
      label += '#';
      label += std::to_string(i);
      points_.push_back(Point{hash64(label), s});
    }
  }
  // Breaking ties by name (not by index) keeps placement independent of insertion order.
  std::sort(points_.begin(), points_.end(), [this](const Point& a, const Point& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return servers_[a.server].name < servers_[b.server].name;
  });
}

std::size_t HashRing::locate(std::string_view key) const noexcept {
  if (points_.empty()) return npos;
  const std::uint64_t h = hash64(key);
  auto it = std::lower_bound(points_.begin(), points_.end(), h,
                             [](const Point& p, std::uint64_t value) { return p.hash < value; });
  if (it == points_.end()) it = points_.begin();
  return it->server;
}

}  // namespace cachette::memcache
