// libFuzzer target for the memcached reply parser (and, on the side, the key mapping).
//
// Invariants checked, beyond "does not crash":
//  - the input parsed whole, byte by byte, and split at pseudo-random points yields the same
//    replies and ends in the same state (need_more, or the same error);
//  - bytes consumed never exceed bytes fed, and consumed + buffered == fed;
//  - every reply is exactly the input bytes it consumed: a VA reply's data is the declared
//    number of bytes right after its header line, followed by CRLF;
//  - metadump keys the parser accepts always URI-decode;
//  - any byte string, used as a key, maps to a token the encoder accepts, and its stored form
//    matches every prefix of the key (yes, or unknown for long prefixes of hashed keys).
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cachette/memcache/keys.hpp"
#include "cachette/memcache/parser.hpp"
#include "cachette/memcache/ring.hpp"

namespace mc = cachette::memcache;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

struct Seen {
  mc::ReplyKind kind;
  std::string raw;  // the exact input bytes the reply consumed
  bool operator==(const Seen&) const = default;
};

struct Run {
  std::vector<Seen> replies;
  mc::ParseStatus last = mc::ParseStatus::need_more;
  mc::ParseError error = mc::ParseError::none;
};

constexpr mc::ParserLimits kLimits{.max_line = 300, .max_value = 4096};

void check_reply(const mc::Reply& reply, std::string_view raw) {
  const std::size_t newline = raw.find('\n');
  check(newline != std::string_view::npos);
  if (reply.kind == mc::ReplyKind::value) {
    std::size_t declared = 0;
    std::string_view line = raw.substr(3);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    const auto parsed = std::from_chars(line.data(), line.data() + line.size(), declared);
    check(parsed.ec == std::errc{});
    check(declared == reply.data.size());
    check(declared <= kLimits.max_value);
    check(raw.size() == newline + 1 + declared + 2);
    check(raw.substr(newline + 1, declared) == reply.data);
    check(raw.substr(raw.size() - 2) == "\r\n");
  } else {
    check(raw.size() == newline + 1);
  }
  if (reply.kind == mc::ReplyKind::metadump_entry) {
    std::string decoded;
    check(mc::uri_decode(reply.entry.key, decoded));
  }
  if (reply.flags.key) check(raw.find(*reply.flags.key) != std::string_view::npos);
  if (reply.flags.opaque) check(raw.find(*reply.flags.opaque) != std::string_view::npos);
  check(raw.substr(0, newline).size() <= kLimits.max_line + 1);
}

void drain(mc::Parser& parser, std::string_view input, Run& run) {
  mc::Reply reply;
  for (;;) {
    const std::uint64_t before = parser.bytes_consumed();
    run.last = parser.next(reply);
    check(parser.bytes_consumed() <= parser.bytes_fed());
    check(parser.bytes_consumed() + parser.buffered() == parser.bytes_fed() ||
          run.last == mc::ParseStatus::error);
    if (run.last != mc::ParseStatus::reply) break;
    const std::string_view raw =
        input.substr(before, static_cast<std::size_t>(parser.bytes_consumed() - before));
    check_reply(reply, raw);
    run.replies.push_back(Seen{reply.kind, std::string(raw)});
  }
  run.error = parser.error();
  check((run.last == mc::ParseStatus::error) == (run.error != mc::ParseError::none));
}

template <typename NextChunk>
Run parse(std::string_view input, NextChunk next_chunk) {
  mc::Parser parser(kLimits);
  Run run;
  std::size_t offset = 0;
  while (offset < input.size()) {
    const std::size_t chunk = std::min(input.size() - offset, next_chunk());
    parser.feed(input.substr(offset, chunk));
    offset += chunk;
    drain(parser, input, run);
    if (run.last == mc::ParseStatus::error) break;
  }
  if (input.empty()) drain(parser, input, run);
  return run;
}

void check_same(const Run& a, const Run& b) {
  check(a.replies == b.replies);
  check(a.last == b.last);
  check(a.error == b.error);
}

void check_key_mapping(std::string_view key) {
  const mc::MappedKey mapped(key);
  std::string out;
  check(mc::encode_get(out, {.key = mapped.wire()}));
  check(mc::encode_delete(out, {.key = mapped.wire()}));
  for (std::size_t n = 0; n <= key.size(); n += 1 + n / 4) {
    check(mc::stored_key_has_prefix(mapped.stored(), key.substr(0, n)) != mc::PrefixMatch::no);
  }
  mc::MappedKey again;
  again.assign_stored(std::string(mapped.stored()));
  check(again.wire().token == mapped.wire().token);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const Run whole = parse(input, [&] { return input.size(); });
  check_same(whole, parse(input, [] { return std::size_t{1}; }));
  std::uint64_t state = mc::hash64(input) | 1;
  check_same(whole, parse(input, [&] {
               state ^= state << 13;
               state ^= state >> 7;
               state ^= state << 17;
               return static_cast<std::size_t>(state % 64) + 1;
             }));

  check_key_mapping(input.substr(0, 400));
  return 0;
}
