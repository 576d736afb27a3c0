#include <gtest/gtest.h>

#include "cachette/redis/cluster_slots.hpp"

using namespace cachette::redis;
using cachette::resp::Parser;
using cachette::resp::Status;

namespace {

// The nodes of the first complete reply in `bytes` (the parser must outlive the span).
std::span<const cachette::resp::Node> parse(Parser& parser, std::string_view bytes) {
  parser.feed(bytes);
  EXPECT_EQ(parser.next(), Status::complete);
  return parser.reply();
}

}  // namespace

TEST(KeySlot, MatchesTheClusterSpecification) {
  // "123456789" is the CRC16/XMODEM check input: 0x31C3 -> 12739 mod 16384.
  EXPECT_EQ(key_slot("123456789"), 0x31C3 & 16383);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(KeySlot, HashTagsPickTheFirstNonEmptyBraces) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  // An empty tag hashes the whole key; so does an unclosed brace.
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot(std::string_view("foo{}{bar}")));
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
  EXPECT_NE(key_slot("foo{bar"), key_slot("bar"));
}

TEST(ParseRedirect, MovedAndAsk) {
  auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->kind, Redirect::Kind::moved);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->target, (NodeAddress{"127.0.0.1", 6381}));

  auto ask = parse_redirect("ASK 16383 ::1:7000");
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->kind, Redirect::Kind::ask);
  EXPECT_EQ(ask->target, (NodeAddress{"::1", 7000}));

  auto unknown_host = parse_redirect("MOVED 1 :7000");
  ASSERT_TRUE(unknown_host);
  EXPECT_EQ(unknown_host->target.host, "");
}

TEST(ParseRedirect, RejectsOtherErrorsAndBadNumbers) {
  EXPECT_FALSE(parse_redirect("ERR unknown command"));
  EXPECT_FALSE(parse_redirect("MOVED 16384 127.0.0.1:6381"));
  EXPECT_FALSE(parse_redirect("MOVED x 127.0.0.1:6381"));
  EXPECT_FALSE(parse_redirect("MOVED 1 127.0.0.1:0"));
  EXPECT_FALSE(parse_redirect("MOVED 1 127.0.0.1:70000"));
  EXPECT_FALSE(parse_redirect("MOVED 1 127.0.0.1"));
  EXPECT_FALSE(parse_redirect("MOVED 1"));
}

TEST(ParseClusterShards, Resp3Maps) {
  const std::string reply =
      "*2\r\n"
      "%2\r\n+slots\r\n*4\r\n:0\r\n:99\r\n:200\r\n:299\r\n+nodes\r\n*2\r\n"
      "%5\r\n+id\r\n+a\r\n+port\r\n:7000\r\n+ip\r\n+10.0.0.1\r\n+role\r\n+master\r\n"
      "+health\r\n+online\r\n"
      "%5\r\n+id\r\n+b\r\n+port\r\n:7003\r\n+endpoint\r\n+host-b\r\n+role\r\n+replica\r\n"
      "+health\r\n+online\r\n"
      "%2\r\n+slots\r\n*2\r\n:100\r\n:199\r\n+nodes\r\n*2\r\n"
      "%4\r\n+port\r\n:7001\r\n+ip\r\n+10.0.0.2\r\n+role\r\n+master\r\n+health\r\n+online\r\n"
      "%4\r\n+port\r\n:7004\r\n+ip\r\n+10.0.0.5\r\n+role\r\n+replica\r\n+health\r\n+failed\r\n";
  Parser parser;
  auto shards = parse_cluster_shards(parse(parser, reply));
  ASSERT_TRUE(shards);
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_EQ((*shards)[0].primary, (NodeAddress{"10.0.0.1", 7000}));
  ASSERT_EQ((*shards)[0].replicas.size(), 1u);
  EXPECT_EQ((*shards)[0].replicas[0], (NodeAddress{"host-b", 7003}));
  EXPECT_EQ((*shards)[0].ranges.size(), 2u);
  EXPECT_TRUE((*shards)[1].replicas.empty());  // the failed replica is left out

  SlotMap map(std::move(*shards));
  EXPECT_EQ(map.shard_of(0), 0);
  EXPECT_EQ(map.shard_of(150), 1);
  EXPECT_EQ(map.shard_of(250), 0);
  EXPECT_EQ(map.shard_of(300), SlotMap::kNoShard);
  EXPECT_EQ(map.covered(), 300u);
}

TEST(ParseClusterShards, Resp2FlatArrays) {
  const std::string reply =
      "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n"
      "*6\r\n$4\r\nport\r\n:7000\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n";
  Parser parser;
  auto shards = parse_cluster_shards(parse(parser, reply));
  ASSERT_TRUE(shards);
  ASSERT_EQ(shards->size(), 1u);
  EXPECT_EQ(SlotMap(std::move(*shards)).covered(), 16384u);
}

TEST(ParseClusterShards, RejectsOtherShapes) {
  Parser p1;
  EXPECT_FALSE(parse_cluster_shards(parse(p1, "+OK\r\n")));
  Parser p2;  // a slot range with an odd number of bounds
  EXPECT_FALSE(parse_cluster_shards(parse(p2, "*1\r\n%1\r\n+slots\r\n*1\r\n:0\r\n")));
  Parser p3;  // a slot out of range
  EXPECT_FALSE(parse_cluster_shards(parse(p3, "*1\r\n%1\r\n+slots\r\n*2\r\n:0\r\n:16384\r\n")));
}

TEST(ParseClusterSlots, MergesRangesOfOnePrimary) {
  const std::string reply =
      "*3\r\n"
      "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
      "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nid\r\n"
      "*3\r\n:5461\r\n:10922\r\n*2\r\n$1\r\n?\r\n:7001\r\n"
      "*3\r\n:10923\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n";
  Parser parser;
  auto shards = parse_cluster_slots(parse(parser, reply));
  ASSERT_TRUE(shards);
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_EQ((*shards)[0].ranges.size(), 2u);
  EXPECT_EQ((*shards)[0].replicas.size(), 1u);
  EXPECT_EQ((*shards)[1].primary.host, "");  // "?" = ask the node that answered
  SlotMap map(std::move(*shards));
  EXPECT_EQ(map.covered(), 16384u);
  EXPECT_EQ(map.shard_of(16383), 0);
  EXPECT_EQ(map.shard_of(6000), 1);
}

TEST(ParseClusterSlots, RejectsOtherShapes) {
  Parser p1;
  EXPECT_FALSE(parse_cluster_slots(parse(p1, "*1\r\n*2\r\n:0\r\n:1\r\n")));
  Parser p2;
  EXPECT_FALSE(parse_cluster_slots(parse(p2, "*1\r\n*3\r\n:5\r\n:1\r\n*2\r\n+h\r\n:1\r\n")));
  Parser p3;
  EXPECT_FALSE(parse_cluster_slots(parse(p3, ":1\r\n")));
}
