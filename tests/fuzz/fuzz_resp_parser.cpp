// Invariants of the RESP parser under arbitrary input:
//  - next() only ever returns complete, need_more or error, and error is sticky;
//  - every complete reply is a well-formed pre-order tree whose text views lie in the buffer;
//  - feeding the input whole or in pieces (split points taken from the input) yields the same
//    replies and the same final status.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "cachette/resp/parser.hpp"

using cachette::resp::Node;
using cachette::resp::Parser;
using cachette::resp::Status;
using cachette::resp::Type;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool is_aggregate(Type t) {
  return t == Type::array || t == Type::map || t == Type::set || t == Type::push;
}

// Returns the index after the subtree rooted at `i`.
std::size_t walk(std::span<const Node> nodes, std::size_t i, int depth) {
  check(i < nodes.size());
  check(depth <= 64);
  const Node& n = nodes[i];
  ++i;
  if (!is_aggregate(n.type)) {
    if (n.type == Type::null || n.type == Type::integer || n.type == Type::boolean) {
      check(n.text.empty());
    } else {
      check(n.text.size() == n.size);
    }
    return i;
  }
  const std::uint64_t children = std::uint64_t{n.size} * (n.type == Type::map ? 2 : 1);
  for (std::uint64_t c = 0; c < children; ++c) i = walk(nodes, i, depth + 1);
  return i;
}

std::string render(std::span<const Node> nodes) {
  std::string out;
  for (const Node& n : nodes) {
    out += static_cast<char>('A' + static_cast<int>(n.type));
    out += std::to_string(n.size) + ":" + std::to_string(n.integer) + ":";
    out.append(n.text.data(), n.text.size());
    out += ';';
  }
  return out;
}

Status run(std::string_view input, std::size_t step, std::vector<std::string>& replies) {
  cachette::resp::Limits limits;
  limits.max_bulk_length = 1 << 16;
  limits.max_aggregate_size = 1 << 12;
  Parser p(limits);
  Status last = Status::need_more;
  for (std::size_t i = 0; i < input.size(); i += step) {
    p.feed(input.substr(i, step));
    for (;;) {
      last = p.next();
      if (last == Status::complete) {
        auto nodes = p.reply();
        check(!nodes.empty());
        check(walk(nodes, 0, 0) == nodes.size());
        replies.push_back(render(nodes));
        continue;
      }
      if (last == Status::error) {
        check(!p.error_message().empty());
        check(p.next() == Status::error);
        return last;
      }
      check(last == Status::need_more);
      break;
    }
  }
  return last;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1 << 16)) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> whole;
  std::vector<std::string> pieces;
  const Status a = run(input, size == 0 ? 1 : size, whole);
  const std::size_t step = size == 0 ? 1 : 1 + data[0] % 7;
  const Status b = run(input, step, pieces);
  check(a == b);
  check(whole == pieces);
  return 0;
}
