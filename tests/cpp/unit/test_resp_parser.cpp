#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "cachette/resp/encoder.hpp"
#include "cachette/resp/parser.hpp"

using namespace std::string_view_literals;
using cachette::resp::Limits;
using cachette::resp::Node;
using cachette::resp::Parser;
using cachette::resp::Status;
using cachette::resp::Type;

namespace {

// Renders a reply tree as text so that whole replies compare in one assertion.
std::string render(std::span<const Node> nodes) {
  std::string out;
  for (const Node& n : nodes) {
    out += std::to_string(static_cast<int>(n.type)) + "/" + std::to_string(n.size) + "/" +
           std::to_string(n.integer) + "/" + std::string(n.text) + ";";
  }
  return out;
}

std::vector<std::string> parse_all(Parser& p, std::string_view input, std::size_t chunk) {
  std::vector<std::string> replies;
  for (std::size_t i = 0; i < input.size(); i += chunk) {
    p.feed(input.substr(i, chunk));
    for (;;) {
      Status s = p.next();
      if (s == Status::complete) {
        replies.push_back(render(p.reply()));
        continue;
      }
      EXPECT_EQ(s, Status::need_more) << p.error_message();
      break;
    }
  }
  return replies;
}

Node only(Parser& p, std::string_view input) {
  p.feed(input);
  EXPECT_EQ(p.next(), Status::complete) << p.error_message();
  EXPECT_EQ(p.reply().size(), 1u);
  return p.reply()[0];
}

}  // namespace

TEST(RespParser, Scalars) {
  Parser p;
  Node n = only(p, "+OK\r\n");
  EXPECT_EQ(n.type, Type::simple_string);
  EXPECT_EQ(n.text, "OK");
  n = only(p, "-WRONGPASS invalid\r\n");
  EXPECT_EQ(n.type, Type::error);
  EXPECT_TRUE(cachette::resp::error_has_prefix(n, "WRONGPASS"));
  n = only(p, ":-42\r\n");
  EXPECT_EQ(n.type, Type::integer);
  EXPECT_EQ(n.integer, -42);
  n = only(p, "$3\r\na\0b\r\n"sv);
  EXPECT_EQ(n.type, Type::bulk_string);
  EXPECT_EQ(n.text, "a\0b"sv);
  EXPECT_EQ(only(p, "$-1\r\n").type, Type::null);
  EXPECT_EQ(only(p, "*-1\r\n").type, Type::null);
  EXPECT_EQ(only(p, "_\r\n").type, Type::null);
  n = only(p, "#t\r\n");
  EXPECT_EQ(n.type, Type::boolean);
  EXPECT_EQ(n.integer, 1);
  EXPECT_EQ(only(p, ",1.5\r\n").text, "1.5");
  EXPECT_EQ(only(p, "(12345678901234567890\r\n").text, "12345678901234567890");
  n = only(p, "=8\r\ntxt:abcd\r\n");
  EXPECT_EQ(n.type, Type::verbatim);
  EXPECT_EQ(n.text, "abcd");
  n = only(p, "!5\r\nOOPS!\r\n");
  EXPECT_EQ(n.type, Type::bulk_error);
  EXPECT_EQ(n.text, "OOPS!");
  n = only(p, "$0\r\n\r\n");
  EXPECT_EQ(n.type, Type::bulk_string);
  EXPECT_EQ(n.text, "");
  EXPECT_EQ(p.buffered(), 0u);
}

TEST(RespParser, Aggregates) {
  Parser p;
  p.feed("*2\r\n$1\r\n0\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n*0\r\n");
  ASSERT_EQ(p.next(), Status::complete);
  auto r = p.reply();
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[0].type, Type::array);
  EXPECT_EQ(r[0].size, 2u);
  EXPECT_EQ(r[1].text, "0");
  EXPECT_EQ(r[2].size, 3u);
  EXPECT_EQ(r[3].text, "a");
  EXPECT_EQ(r[4].text, "b");
  EXPECT_EQ(r[5].type, Type::array);
  EXPECT_EQ(r[5].size, 0u);

  p.feed("%2\r\n+server\r\n+redis\r\n+proto\r\n:3\r\n");
  ASSERT_EQ(p.next(), Status::complete);
  r = p.reply();
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].type, Type::map);
  EXPECT_EQ(r[0].size, 2u);
  EXPECT_EQ(r[4].integer, 3);
}

TEST(RespParser, AttributesAreDiscarded) {
  Parser p;
  p.feed("|1\r\n+key\r\n:1\r\n:7\r\n*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n");
  ASSERT_EQ(p.next(), Status::complete);
  ASSERT_EQ(p.reply().size(), 1u);
  EXPECT_EQ(p.reply()[0].integer, 7);
  ASSERT_EQ(p.next(), Status::complete);
  ASSERT_EQ(p.reply().size(), 3u);
  EXPECT_EQ(p.reply()[1].integer, 1);
  EXPECT_EQ(p.reply()[2].integer, 2);
}

TEST(RespParser, PushIsAReplyOfItsOwn) {
  Parser p;
  p.feed(">2\r\n+invalidate\r\n_\r\n:5\r\n");
  ASSERT_EQ(p.next(), Status::complete);
  EXPECT_EQ(p.reply()[0].type, Type::push);
  ASSERT_EQ(p.next(), Status::complete);
  EXPECT_EQ(p.reply()[0].integer, 5);
}

TEST(RespParser, EverySplitGivesTheSameReplies) {
  const std::string input =
      "+OK\r\n$5\r\nhello\r\n*3\r\n:1\r\n*1\r\n$0\r\n\r\n_\r\n%1\r\n+k\r\n=7\r\ntxt:abc\r\n"
      "|1\r\n+a\r\n+b\r\n#f\r\n$-1\r\n";
  Parser whole;
  const auto expected = parse_all(whole, input, input.size());
  ASSERT_EQ(expected.size(), 6u);
  for (std::size_t chunk = 1; chunk < input.size(); ++chunk) {
    Parser p;
    EXPECT_EQ(parse_all(p, input, chunk), expected) << "chunk " << chunk;
  }
}

TEST(RespParser, LargeBulkInPieces) {
  std::string value(1 << 20, 'x');
  value[12345] = '\0';
  std::string wire;
  cachette::resp::CommandWriter(wire, 1).arg(value);  // *1 $1048576 ...
  Parser p;
  std::size_t fed = 0;
  Status s = Status::need_more;
  while (fed < wire.size()) {
    const std::size_t n = std::min<std::size_t>(65536, wire.size() - fed);
    auto room = p.prepare(n);
    std::memcpy(room.data(), wire.data() + fed, n);
    p.commit(n);
    fed += n;
    s = p.next();
    if (fed < wire.size()) {
      ASSERT_EQ(s, Status::need_more);
    }
  }
  ASSERT_EQ(s, Status::complete);
  ASSERT_EQ(p.reply().size(), 2u);
  EXPECT_EQ(p.reply()[1].text, value);
}

// The engine's read loop: prepare(16 KiB), receive at most what the region offers, commit,
// parse; `fed` carries over between calls. Records where each read landed.
struct Landing {
  const char* at;
  std::size_t n;
};

Status receive_like_the_engine(Parser& p, std::string_view wire, std::size_t chunk,
                               std::size_t& fed, std::vector<Landing>* landings = nullptr) {
  Status s = p.next();
  while (s == Status::need_more && fed < wire.size()) {
    auto room = p.prepare(16 << 10);
    const std::size_t n = std::min({room.size(), chunk, wire.size() - fed});
    std::memcpy(room.data(), wire.data() + fed, n);
    p.commit(n);
    fed += n;
    if (landings != nullptr) landings->push_back({room.data(), n});
    s = p.next();
  }
  return s;
}

TEST(RespParser, LargeTopLevelBulkIsReceivedIntoItsOwnBuffer) {
  std::string value(1 << 20, 'v');
  value[0] = 'a';
  value[value.size() - 1] = 'z';
  const std::string wire = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n+OK\r\n";
  for (std::size_t chunk : {1000u, 4096u, 65536u, 1u << 21}) {
    Parser p;
    std::vector<Landing> landings;
    std::size_t fed = 0;
    ASSERT_EQ(receive_like_the_engine(p, wire, chunk, fed, &landings), Status::complete) << chunk;
    ASSERT_TRUE(p.owns_payload());
    ASSERT_EQ(p.reply().size(), 1u);
    EXPECT_EQ(p.reply()[0].type, Type::bulk_string);
    EXPECT_EQ(p.reply()[0].size, value.size());
    EXPECT_EQ(p.reply()[0].text, value);
    const std::string taken = p.take_payload();
    EXPECT_EQ(taken, value);
    // Past the first read, the socket's bytes went straight into the buffer handed over.
    std::size_t in_place = 0;
    for (const Landing& l : landings) {
      if (l.at >= taken.data() && l.at < taken.data() + taken.size()) in_place += l.n;
    }
    EXPECT_GE(in_place, value.size() - (16u << 10)) << chunk;
    EXPECT_FALSE(p.owns_payload());
    EXPECT_EQ(p.take_payload(), "");
    // The reply after it parses from the ordinary buffer.
    ASSERT_EQ(receive_like_the_engine(p, wire, chunk, fed), Status::complete) << chunk;
    EXPECT_EQ(p.reply()[0].type, Type::simple_string);
    EXPECT_FALSE(p.owns_payload());
  }
}

TEST(RespParser, OnlyLargeTopLevelBulksGetABufferOfTheirOwn) {
  Limits limits;
  limits.own_payload_from = 8;
  Parser p(limits);
  p.feed("$7\r\nshort!!\r\n*1\r\n$9\r\nin array!\r\n!9\r\nerr error\r\n$9\r\ntop level\r\n");
  ASSERT_EQ(p.next(), Status::complete);
  EXPECT_FALSE(p.owns_payload());
  ASSERT_EQ(p.next(), Status::complete);
  EXPECT_FALSE(p.owns_payload());
  EXPECT_EQ(p.reply()[1].text, "in array!");
  ASSERT_EQ(p.next(), Status::complete);
  EXPECT_FALSE(p.owns_payload());
  ASSERT_EQ(p.next(), Status::complete);
  EXPECT_TRUE(p.owns_payload());
  EXPECT_EQ(p.reply()[0].text, "top level");
  // Not taken: the next call drops it.
  EXPECT_EQ(p.next(), Status::need_more);
  EXPECT_FALSE(p.owns_payload());
}

TEST(RespParser, LargeBulkWithoutCrlfIsAnError) {
  Limits limits;
  limits.own_payload_from = 4;
  Parser p(limits);
  p.feed("$4\r\nabcdXY");
  EXPECT_EQ(p.next(), Status::error);
}

TEST(RespParser, EverySplitOfALargeBulkGivesTheSameReply) {
  Limits limits;
  limits.own_payload_from = 5;
  const std::string input = "+OK\r\n$12\r\nhello world!\r\n:7\r\n";
  Parser whole(limits);
  const auto expected = parse_all(whole, input, input.size());
  ASSERT_EQ(expected.size(), 3u);
  for (std::size_t chunk = 1; chunk < input.size(); ++chunk) {
    Parser p(limits);
    EXPECT_EQ(parse_all(p, input, chunk), expected) << "chunk " << chunk;
    Parser q(limits);
    std::vector<std::string> replies;
    for (std::size_t fed = 0; fed < input.size();) {
      auto room = q.prepare(16);
      const std::size_t n = std::min({room.size(), chunk, input.size() - fed});
      std::memcpy(room.data(), input.data() + fed, n);
      q.commit(n);
      fed += n;
      while (q.next() == Status::complete) replies.push_back(render(q.reply()));
    }
    EXPECT_EQ(replies, expected) << "chunk " << chunk;
  }
}

TEST(RespParser, MalformedInputIsAnError) {
  const char* bad[] = {
      "?\r\n",   "+OK\n",  ":12a\r\n", ":+1\r\n", "$-2\r\n",       "$3\r\nabcd\r\n",
      "*-5\r\n", "#x\r\n", "_x\r\n",   "$?\r\n",  "=3\r\nabc\r\n", ":99999999999999999999\r\n",
      "\r\n",
  };
  for (const char* input : bad) {
    Parser p;
    p.feed(input);
    EXPECT_EQ(p.next(), Status::error) << input;
    EXPECT_FALSE(p.error_message().empty());
    EXPECT_EQ(p.next(), Status::error) << "errors are sticky";
  }
}

TEST(RespParser, LimitsAreEnforced) {
  Limits limits;
  limits.max_bulk_length = 10;
  limits.max_aggregate_size = 3;
  limits.max_depth = 2;
  limits.max_line_length = 16;
  for (const char* input :
       {"$11\r\n", "*4\r\n", "*1\r\n*1\r\n*1\r\n:1\r\n", "+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    Parser p(limits);
    p.feed(input);
    EXPECT_EQ(p.next(), Status::error) << input;
  }
}

TEST(RespEncoder, CommandsRoundTripThroughTheParser) {
  std::string out;
  cachette::resp::append_command(out, {"SET", "k", "v\r\n", "PX", "100"});
  cachette::resp::CommandWriter(out, 2).arg("PEXPIRE").arg(std::int64_t{-7});
  EXPECT_EQ(out.substr(0, 22), "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3");
  Parser p;
  p.feed(out);
  ASSERT_EQ(p.next(), Status::complete);
  auto r = p.reply();
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[3].text, "v\r\n");
  EXPECT_EQ(r[5].text, "100");
  ASSERT_EQ(p.next(), Status::complete);
  EXPECT_EQ(p.reply()[2].text, "-7");
}
