// Invariants of the cluster routing parsers under arbitrary RESP replies and error texts:
//  - parse_cluster_shards / parse_cluster_slots either reject a reply or return shards whose
//    ranges are ordered and inside 0..16383, and whose primaries carry a port;
//  - the SlotMap built from them sends every covered slot to a shard that lists it;
//  - parse_redirect on any error text yields a slot below 16384 and a non-zero port.

#include <cstdint>
#include <cstdlib>
#include <string>

#include "cachette/redis/cluster_slots.hpp"

using namespace cachette::redis;
using cachette::resp::Parser;
using cachette::resp::Status;
using cachette::resp::Type;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_shards(const std::optional<std::vector<Shard>>& shards) {
  if (!shards) return;
  for (const Shard& s : *shards) {
    check(s.primary.port != 0);
    for (auto [first, last] : s.ranges) check(first <= last && last < kSlotCount);
    for (const NodeAddress& r : s.replicas) check(r.port != 0);
  }
  SlotMap map(*shards);
  std::size_t covered = 0;
  for (std::uint32_t slot = 0; slot < kSlotCount; ++slot) {
    const std::uint16_t owner = map.shard_of(static_cast<std::uint16_t>(slot));
    if (owner == SlotMap::kNoShard) continue;
    ++covered;
    check(owner < map.shards().size());
    bool listed = false;
    for (auto [first, last] : map.shards()[owner].ranges) {
      listed = listed || (slot >= first && slot <= last);
    }
    check(listed);
  }
  check(covered == map.covered());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto r = parse_redirect(input)) {
    check(r->slot < kSlotCount);
    check(r->target.port != 0);
  }
  check(key_slot(input) < kSlotCount);
  Parser parser;
  parser.feed(input);
  for (int i = 0; i < 8; ++i) {
    if (parser.next() != Status::complete) break;
    auto reply = parser.reply();
    check_shards(parse_cluster_shards(reply));
    check_shards(parse_cluster_slots(reply));
    if (reply[0].type == Type::error) {
      if (auto r = parse_redirect(reply[0].text)) check(r->slot < kSlotCount);
    }
  }
  return 0;
}
