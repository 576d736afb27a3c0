#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cachette/memcache/parser.hpp"

namespace mc = cachette::memcache;

namespace {

// Replies copied out of the parser, so they outlive its buffer.
struct Owned {
  mc::ReplyKind kind;
  std::string data;
  std::string text;
  std::optional<std::int64_t> ttl;
  std::optional<std::string> key;
  std::optional<std::string> opaque;
  bool base64_key;
  std::string dump_key;
  std::int64_t dump_exp;

  bool operator==(const Owned&) const = default;
};

Owned own(const mc::Reply& r) {
  return Owned{r.kind,
               std::string(r.data),
               std::string(r.text),
               r.flags.ttl,
               r.flags.key ? std::optional<std::string>(*r.flags.key) : std::nullopt,
               r.flags.opaque ? std::optional<std::string>(*r.flags.opaque) : std::nullopt,
               r.flags.base64_key,
               std::string(r.entry.key),
               r.entry.expires_at};
}

struct Outcome {
  std::vector<Owned> replies;
  mc::ParseStatus last;
  mc::ParseError error;
};

Outcome drain(mc::Parser& parser, Outcome& outcome) {
  mc::Reply reply;
  for (;;) {
    outcome.last = parser.next(reply);
    if (outcome.last != mc::ParseStatus::reply) break;
    outcome.replies.push_back(own(reply));
  }
  outcome.error = parser.error();
  return outcome;
}

// Feeds `input` in pieces of `step` bytes, draining after each piece.
Outcome parse(std::string_view input, std::size_t step = 0, mc::ParserLimits limits = {}) {
  mc::Parser parser(limits);
  Outcome outcome{};
  if (step == 0) step = input.size() + 1;
  for (std::size_t i = 0; i < input.size(); i += step) {
    parser.feed(input.substr(i, step));
    drain(parser, outcome);
    if (outcome.last == mc::ParseStatus::error) break;
  }
  if (input.empty()) drain(parser, outcome);
  EXPECT_LE(parser.bytes_consumed(), parser.bytes_fed());
  return outcome;
}

const std::string kTranscript =
    "HD\r\n"
    "HD kfoo O12\r\n"
    "VA 3 t100 kfoo O99 f0 s3 c1\r\nbar\r\n"
    "VA 0 W\r\n\r\n"
    "VA 4 kZm9v b t-1\r\na\r\nb\r\n"
    "EN\r\n"
    "EN kZm9vYmFy b\r\n"
    "NF\r\nNS\r\nEX\r\nMN\r\nOK\r\nEND\r\nSTORED\r\n"
    "VERSION 1.6.18\r\n"
    "ERROR\r\n"
    "ERROR cannot pipeline other commands before metadump\r\n"
    "CLIENT_ERROR bad command line format\r\n"
    "SERVER_ERROR out of memory storing object\r\n"
    "BUSY currently processing crawler request\r\n"
    "BADCLASS invalid class id\r\n"
    "NOTSTARTED no items to crawl\r\n"
    "key=foo exp=1795545458 la=1795545358 cas=6 fetch=no cls=1 size=65\n"
    "key=foo%20bar%01 exp=-1 la=1795545358 cas=7 fetch=yes cls=1 size=69\n"
    "END\r\n";

TEST(MemcacheParser, EveryReplyKind) {
  const Outcome out = parse(kTranscript);
  EXPECT_EQ(out.last, mc::ParseStatus::need_more);
  EXPECT_EQ(out.error, mc::ParseError::none);
  std::vector<mc::ReplyKind> kinds;
  for (const Owned& r : out.replies) kinds.push_back(r.kind);
  using K = mc::ReplyKind;
  EXPECT_EQ(kinds,
            (std::vector<K>{K::header,     K::header,       K::value,          K::value,
                            K::value,      K::miss,         K::miss,           K::not_found,
                            K::not_stored, K::exists,       K::noop,           K::ok,
                            K::end,        K::stored,       K::version,        K::error,
                            K::error,      K::client_error, K::server_error,   K::busy,
                            K::bad_class,  K::not_started,  K::metadump_entry, K::metadump_entry,
                            K::end}));
  EXPECT_EQ(out.replies[1].key, "foo");
  EXPECT_EQ(out.replies[1].opaque, "12");
  EXPECT_EQ(out.replies[2].data, "bar");
  EXPECT_EQ(out.replies[2].ttl, 100);
  EXPECT_EQ(out.replies[2].opaque, "99");
  EXPECT_EQ(out.replies[3].data, "");
  EXPECT_EQ(out.replies[4].data, "a\r\nb");
  EXPECT_EQ(out.replies[4].ttl, -1);
  EXPECT_TRUE(out.replies[4].base64_key);
  EXPECT_EQ(out.replies[6].key, "Zm9vYmFy");
  EXPECT_EQ(out.replies[14].text, "1.6.18");
  EXPECT_EQ(out.replies[15].text, "");
  EXPECT_EQ(out.replies[16].text, "cannot pipeline other commands before metadump");
  EXPECT_EQ(out.replies[17].text, "bad command line format");
  EXPECT_EQ(out.replies[22].dump_key, "foo");
  EXPECT_EQ(out.replies[22].dump_exp, 1795545458);
  EXPECT_EQ(out.replies[23].dump_key, "foo%20bar%01");
  EXPECT_EQ(out.replies[23].dump_exp, -1);
}

TEST(MemcacheParser, SameRepliesAtEverySplit) {
  const Outcome whole = parse(kTranscript);
  for (std::size_t step = 1; step < 40; ++step) {
    const Outcome pieces = parse(kTranscript, step);
    ASSERT_EQ(pieces.replies, whole.replies) << "step " << step;
  }
  // Every two-piece split point, including inside "\r\n" and inside data blocks.
  for (std::size_t cut = 0; cut <= kTranscript.size(); ++cut) {
    mc::Parser parser;
    Outcome outcome{};
    parser.feed(std::string_view(kTranscript).substr(0, cut));
    drain(parser, outcome);
    parser.feed(std::string_view(kTranscript).substr(cut));
    drain(parser, outcome);
    ASSERT_EQ(outcome.replies, whole.replies) << "cut " << cut;
    EXPECT_EQ(parser.bytes_consumed(), kTranscript.size());
    EXPECT_EQ(parser.buffered(), 0u);
  }
}

TEST(MemcacheParser, MetadumpFields) {
  mc::Parser parser;
  parser.feed("key=a%3Ab exp=-1 la=7 cas=8 fetch=yes cls=2 size=70 future=1\n");
  mc::Reply reply;
  ASSERT_EQ(parser.next(reply), mc::ParseStatus::reply);
  EXPECT_EQ(reply.entry.key, "a%3Ab");
  EXPECT_EQ(reply.entry.last_access, 7u);
  EXPECT_EQ(reply.entry.cas, 8u);
  EXPECT_TRUE(reply.entry.fetched);
  EXPECT_EQ(reply.entry.slab_class, 2u);
  EXPECT_EQ(reply.entry.size, 70u);
  std::string decoded;
  ASSERT_TRUE(mc::uri_decode(reply.entry.key, decoded));
  EXPECT_EQ(decoded, "a:b");
  ASSERT_TRUE(mc::uri_decode("%00%ff%FFx", decoded));
  EXPECT_EQ(decoded, std::string("\0\xff\xffx", 4));
  EXPECT_FALSE(mc::uri_decode("%", decoded));
  EXPECT_FALSE(mc::uri_decode("%4", decoded));
  EXPECT_FALSE(mc::uri_decode("%zz", decoded));
}

TEST(MemcacheParser, NeedMoreUntilTheDataBlockIsComplete) {
  mc::Parser parser;
  mc::Reply reply;
  parser.feed("VA 5\r\nhel");
  EXPECT_EQ(parser.next(reply), mc::ParseStatus::need_more);
  parser.feed("lo\r");
  EXPECT_EQ(parser.next(reply), mc::ParseStatus::need_more);
  EXPECT_EQ(parser.bytes_consumed(), 0u);
  parser.feed("\nMN\r\n");
  ASSERT_EQ(parser.next(reply), mc::ParseStatus::reply);
  EXPECT_EQ(reply.data, "hello");
  ASSERT_EQ(parser.next(reply), mc::ParseStatus::reply);
  EXPECT_EQ(reply.kind, mc::ReplyKind::noop);
  EXPECT_EQ(parser.next(reply), mc::ParseStatus::need_more);
  EXPECT_EQ(parser.bytes_consumed(), parser.bytes_fed());
}

TEST(MemcacheParser, ValueSizeIsCheckedBeforeBuffering) {
  const Outcome out = parse("VA 1048577\r\n", 0, {.max_line = 4096, .max_value = 1048576});
  EXPECT_EQ(out.error, mc::ParseError::value_too_large);
  EXPECT_EQ(parse("VA 99999999999999999999999\r\n").error, mc::ParseError::value_too_large);
  const Outcome ok = parse("VA 4\r\nabcd\r\n", 0, {.max_line = 4096, .max_value = 4});
  ASSERT_EQ(ok.replies.size(), 1u);
  EXPECT_EQ(ok.replies[0].data, "abcd");
}

TEST(MemcacheParser, LinesAreBounded) {
  const mc::ParserLimits limits{.max_line = 16, .max_value = 1024};
  EXPECT_EQ(parse(std::string(18, 'x'), 1, limits).error, mc::ParseError::line_too_long);
  EXPECT_EQ(parse("CLIENT_ERROR 0123456789\r\n", 0, limits).error, mc::ParseError::line_too_long);
  EXPECT_EQ(parse("CLIENT_ERROR 012\r\n", 0, limits).replies.size(), 1u);
  // 16 bytes without their \r\n are still a line that may end in time.
  EXPECT_EQ(parse("CLIENT_ERROR 012", 1, limits).last, mc::ParseStatus::need_more);
}

TEST(MemcacheParser, MalformedInputIsAStickyError) {
  const std::pair<const char*, mc::ParseError> cases[] = {
      {"HX\r\n", mc::ParseError::unknown_reply},
      {"hd\r\n", mc::ParseError::unknown_reply},
      {"\r\n", mc::ParseError::unknown_reply},
      {" HD\r\n", mc::ParseError::unknown_reply},
      {"HD\n", mc::ParseError::bad_line_end},
      {"OK extra\r\n", mc::ParseError::unknown_reply},
      {"MN k\r\n", mc::ParseError::unknown_reply},
      {"VA\r\n", mc::ParseError::bad_number},
      {"VA -1\r\n", mc::ParseError::bad_number},
      {"VA +1\r\nx\r\n", mc::ParseError::bad_number},
      {"VA 1x\r\n", mc::ParseError::bad_number},
      {"VA 3\r\nabcde\r\n", mc::ParseError::bad_data_end},
      {"VA 1\r\nabc", mc::ParseError::bad_data_end},
      {"HD tx\r\n", mc::ParseError::bad_flag},
      {"HD t\r\n", mc::ParseError::bad_flag},
      {"HD c-1\r\n", mc::ParseError::bad_flag},
      {"HD f4294967296\r\n", mc::ParseError::bad_flag},
      {"HD b1\r\n", mc::ParseError::bad_flag},
      {"HD 5\r\n", mc::ParseError::bad_flag},
      {"EN \x01\r\n", mc::ParseError::bad_flag},
      {"key=\n", mc::ParseError::bad_metadump},
      {"key=a%2\n", mc::ParseError::bad_metadump},
      {"key=a exp=soon\n", mc::ParseError::bad_metadump},
      {"key=a fetch=maybe\n", mc::ParseError::bad_metadump},
      {"key=a garbage\n", mc::ParseError::bad_metadump},
  };
  for (const auto& [input, error] : cases) {
    const Outcome out = parse(input);
    EXPECT_EQ(out.last, mc::ParseStatus::error) << input;
    EXPECT_EQ(out.error, error) << input << ": " << mc::to_string(out.error);
    EXPECT_TRUE(out.replies.empty()) << input;
  }
  mc::Parser parser;
  mc::Reply reply;
  parser.feed("HX\r\nHD\r\n");
  EXPECT_EQ(parser.next(reply), mc::ParseStatus::error);
  EXPECT_EQ(parser.next(reply), mc::ParseStatus::error);
  parser.reset();
  parser.feed("HD\r\n");
  EXPECT_EQ(parser.next(reply), mc::ParseStatus::reply);
}

TEST(MemcacheParser, UnknownReturnFlagsAreSkipped) {
  const Outcome out = parse("HD h1 l30 Q t5\r\n");
  ASSERT_EQ(out.replies.size(), 1u);
  EXPECT_EQ(out.replies[0].ttl, 5);
}

TEST(MemcacheParser, ToStringCoversEveryCode) {
  EXPECT_STREQ(mc::to_string(mc::ReplyKind::value), "VA");
  EXPECT_STREQ(mc::to_string(mc::ReplyKind::metadump_entry), "metadump entry");
  EXPECT_STREQ(mc::to_string(mc::ParseError::value_too_large),
               "value larger than the configured maximum");
}

TEST(MemcacheParser, LargeValueInSmallPiecesStaysLinear) {
  const std::string value(300000, 'v');
  const std::string input = "VA 300000 kbig\r\n" + value + "\r\nHD\r\n";
  mc::Parser parser;
  Outcome outcome{};
  for (std::size_t i = 0; i < input.size(); i += 7) {
    parser.feed(std::string_view(input).substr(i, 7));
    drain(parser, outcome);
  }
  ASSERT_EQ(outcome.replies.size(), 2u);
  EXPECT_EQ(outcome.replies[0].data, value);
  EXPECT_EQ(outcome.replies[1].kind, mc::ReplyKind::header);
}

}  // namespace
