// The cluster protocol's own opcodes, driven with scripted reply bytes (no server).

#include <gtest/gtest.h>

#include <cstring>

#include "cachette/redis/cluster_protocol.hpp"

using namespace cachette::redis;
using cachette::net::ReadStatus;
using cachette::net::Result;
using Kind = Result::Kind;

namespace {

struct Scripted {
  std::shared_ptr<cachette::net::HitCounters> counters =
      std::make_shared<cachette::net::HitCounters>();
  std::shared_ptr<TopologyInbox> inbox = std::make_shared<TopologyInbox>();
  ClusterProtocol protocol{std::make_shared<const Credentials>(), counters, inbox, false};

  void feed(std::string_view bytes) {
    auto room = protocol.prepare(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    protocol.commit(bytes.size());
  }
  // Reads `replies` replies of one request.
  Result read(std::uint16_t op, std::uint16_t replies) {
    Result r;
    for (std::uint16_t i = 0; i < replies; ++i) {
      EXPECT_EQ(protocol.read_reply(op, i, r), ReadStatus::reply);
    }
    return r;
  }
};

}  // namespace

TEST(ClusterProtocol, AskingReplyIsReadFirstThenTheCommand) {
  Scripted s;
  s.feed("+OK\r\n$5\r\nvalue\r\n");
  Result r = s.read(op_get | kAsking, 2);
  ASSERT_EQ(r.kind, Kind::value);
  EXPECT_EQ(r.value, "value");
  EXPECT_EQ(s.counters->hits.load(), 1u);

  s.feed("+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1500\r\n$1\r\nx\r\n");
  r = s.read(op_get_with_ttl | kAsking, 5);
  ASSERT_EQ(r.kind, Kind::ttl_value);
  EXPECT_EQ(r.integer, 1500);
}

TEST(ClusterProtocol, MovedInsideATransactionIsTheRequestsError) {
  Scripted s;
  s.feed(
      "+OK\r\n-MOVED 12 127.0.0.1:7001\r\n-MOVED 12 127.0.0.1:7001\r\n"
      "-EXECABORT Transaction discarded\r\n");
  Result r = s.read(op_get_with_ttl, 4);
  ASSERT_EQ(r.kind, Kind::error);
  EXPECT_EQ(r.value, "MOVED 12 127.0.0.1:7001");
}

TEST(ClusterProtocol, PerKeyBatchesKeepEachKeysOutcome) {
  Scripted s;
  s.feed("$1\r\na\r\n_\r\n-ASK 5 127.0.0.1:7002\r\n");
  Result r = s.read(op_get_each, 3);
  ASSERT_EQ(r.kind, Kind::values);
  ASSERT_EQ(r.present.size(), 3u);
  EXPECT_EQ(r.present[0], 1);
  EXPECT_EQ(r.items[0], "a");
  EXPECT_EQ(r.present[1], 0);
  EXPECT_EQ(r.present[2], 2);  // follow this key alone
  EXPECT_EQ(r.items[2], "ASK 5 127.0.0.1:7002");
}

TEST(ClusterProtocol, UnlinkBatchesSumTheirCounts) {
  Scripted s;
  s.feed(":1\r\n:0\r\n:1\r\n");
  Result r = s.read(op_unlink_each, 3);
  ASSERT_EQ(r.kind, Kind::integer);
  EXPECT_EQ(r.integer, 2);
}

TEST(ClusterProtocol, SetNxTellsStoredFromPresent) {
  Scripted s;
  s.feed("+OK\r\n_\r\n");
  EXPECT_EQ(s.read(op_add, 1).integer, 1);
  Result r = s.read(op_add, 1);
  ASSERT_EQ(r.kind, Kind::integer);
  EXPECT_EQ(r.integer, 0);
}

TEST(ClusterProtocol, TopologyRepliesLandInTheInbox) {
  Scripted s;
  s.feed("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n");
  Result r = s.read(op_cluster_slots, 1);
  ASSERT_EQ(r.kind, Kind::ok);
  ASSERT_TRUE(s.inbox->shards);
  EXPECT_EQ(s.inbox->shards->front().primary.port, 7000);

  s.feed("-ERR This instance has cluster support disabled\r\n");
  r = s.read(op_cluster_shards, 1);
  ASSERT_EQ(r.kind, Kind::error);
  EXPECT_NE(r.value.find("cluster support disabled"), std::string::npos);
}
