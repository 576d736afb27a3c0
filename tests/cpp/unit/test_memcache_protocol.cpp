// MetaProtocol and DumpProtocol driven with scripted reply bytes: no server, no socket.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "cachette/memcache/protocol.hpp"

using cachette::Errc;
using cachette::net::ReadStatus;
using cachette::net::Result;
using namespace cachette::memcache;
using Kind = Result::Kind;

namespace {

std::shared_ptr<const ServerContext> server(std::string user = "", std::string password = "") {
  auto s = std::make_shared<ServerContext>();
  s->name = "memcached test:1";
  s->credentials = {std::move(user), std::move(password)};
  return s;
}

void feed(cachette::net::Protocol& p, std::string_view bytes) {
  auto room = p.prepare(bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  p.commit(bytes.size());
}

}  // namespace

TEST(MemcacheEngineProtocol, DecodesEachOperationsReplies) {
  auto counters = std::make_shared<cachette::net::HitCounters>();
  MetaProtocol p(server(), counters);
  std::string out;
  EXPECT_TRUE(p.handshake(out).empty());
  EXPECT_TRUE(out.empty());
  Result r;
  EXPECT_EQ(p.read_reply(op_get, 0, r), ReadStatus::need_more);
  feed(p, "VA 3 t12\r\nab");
  EXPECT_EQ(p.read_reply(op_get_ttl, 0, r), ReadStatus::need_more);
  feed(p, "c\r\nEN\r\nVA 1 t-1\r\nx\r\nHD\r\nNF\r\nHD\r\nOK\r\n");
  ASSERT_EQ(p.read_reply(op_get_ttl, 0, r), ReadStatus::reply);
  EXPECT_EQ(r.kind, Kind::ttl_value);
  EXPECT_EQ(r.integer, 12000);
  EXPECT_EQ(r.value, "abc");
  Result miss;
  ASSERT_EQ(p.read_reply(op_get, 0, miss), ReadStatus::reply);
  EXPECT_EQ(miss.kind, Kind::nil);
  Result forever;
  ASSERT_EQ(p.read_reply(op_get_ttl, 0, forever), ReadStatus::reply);
  EXPECT_EQ(forever.integer, -1);
  Result deleted;  // one request, three md replies: HD NF HD
  for (std::uint16_t i = 0; i < 3; ++i)
    ASSERT_EQ(p.read_reply(op_delete, i, deleted), ReadStatus::reply);
  EXPECT_EQ(deleted.kind, Kind::integer);
  EXPECT_EQ(deleted.integer, 2);
  Result flushed;
  ASSERT_EQ(p.read_reply(op_flush_all, 0, flushed), ReadStatus::reply);
  EXPECT_EQ(flushed.kind, Kind::ok);
  EXPECT_EQ(counters->hits.load(), 2u);
  EXPECT_EQ(counters->misses.load(), 1u);
}

TEST(MemcacheEngineProtocol, TooLargeAndOutOfMemoryAreTypedAndOtherErrorsAreProtocolErrors) {
  MetaProtocol p(server(), std::make_shared<cachette::net::HitCounters>());
  feed(p,
       "SERVER_ERROR object too large for cache\r\nSERVER_ERROR out of memory storing object\r\n"
       "SERVER_ERROR busy\r\n");
  Result large;
  ASSERT_EQ(p.read_reply(op_set, 0, large), ReadStatus::reply);
  EXPECT_EQ(large.kind, Kind::error);
  EXPECT_EQ(large.error_code, Errc::value_too_large);
  EXPECT_NE(large.value.find("memcached test:1"), std::string::npos);
  Result oom;  // memcached -M with no memory left: the store is full
  ASSERT_EQ(p.read_reply(op_set, 0, oom), ReadStatus::reply);
  EXPECT_EQ(oom.error_code, Errc::store_full);
  Result other;
  ASSERT_EQ(p.read_reply(op_set, 0, other), ReadStatus::reply);
  EXPECT_EQ(other.error_code, Errc::protocol);
}

TEST(MemcacheEngineProtocol, MalformedBytesAndUnaskedRepliesAreFatal) {
  MetaProtocol p(server(), std::make_shared<cachette::net::HitCounters>());
  feed(p, "HD\r\n");
  Result stray;
  EXPECT_EQ(p.read_reply(0xffff, 0, stray), ReadStatus::fatal);
  MetaProtocol q(server(), std::make_shared<cachette::net::HitCounters>());
  feed(q, "BOGUS\r\n");
  Result r;
  EXPECT_EQ(q.read_reply(op_get, 0, r), ReadStatus::fatal);
  EXPECT_NE(q.fatal_message().find("malformed"), std::string::npos);
}

TEST(MemcacheEngineProtocol, LoginIsTheHandshakeAndARefusalIsAnAuthError) {
  MetaProtocol p(server("user", "secret"), std::make_shared<cachette::net::HitCounters>());
  std::string out;
  auto steps = p.handshake(out);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].op, op_auth);
  EXPECT_TRUE(out.starts_with("set cachette-login"));
  EXPECT_TRUE(out.ends_with("\r\nmn\r\n"));
  feed(p, "CLIENT_ERROR authentication failure\r\n");
  Result r;
  ASSERT_EQ(p.read_reply(op_auth, 0, r), ReadStatus::reply);
  EXPECT_EQ(r.error_code, Errc::auth);
  EXPECT_EQ(r.value.find("secret"), std::string::npos);
}

TEST(MemcacheEngineProtocol, AcceptedLoginEndsAtTheNoop) {
  MetaProtocol p(server("user", "secret"), std::make_shared<cachette::net::HitCounters>());
  std::string out;
  ASSERT_EQ(p.handshake(out).size(), 1u);
  Result r;
  feed(p, "STORED\r\n");
  EXPECT_EQ(p.read_reply(op_auth, 0, r), ReadStatus::need_more);
  feed(p, "MN\r\nEN\r\n");
  ASSERT_EQ(p.read_reply(op_auth, 0, r), ReadStatus::reply);
  EXPECT_EQ(r.kind, Kind::ok);
  Result get;
  ASSERT_EQ(p.read_reply(op_get, 0, get), ReadStatus::reply);  // the next request's reply
  EXPECT_EQ(get.kind, Kind::nil);
}

// Issue 11, item 5: a server without -Y used to store the password under the key "auth".
TEST(MemcacheEngineProtocol, LoginToAServerThatDoesNotAskForOneStoresNothing) {
  MetaProtocol p(server("user", "secret"), std::make_shared<cachette::net::HitCounters>());
  std::string out;
  ASSERT_EQ(p.handshake(out).size(), 1u);
  // The set line is refused before any data block is read: its key is over the limit, so it
  // can never be a user's key either.
  const std::string set_line = out.substr(0, out.find("\r\n"));
  const std::string key = set_line.substr(4, set_line.find(' ', 4) - 4);
  EXPECT_GT(key.size(), kMaxKeyToken);
  EXPECT_EQ(out.find("set auth"), std::string::npos);
  // The data line, read as a command, has more tokens than any mutating command takes.
  const std::size_t data_start = set_line.size() + 2;
  const std::string data = out.substr(data_start, out.find("\r\n", data_start) - data_start);
  EXPECT_TRUE(data.starts_with("user secret "));
  EXPECT_GE(std::count(data.begin(), data.end(), ' '), 24);
  // What memcached 1.6 answers (as observed against a real server without -Y).
  Result r;
  feed(p, "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(p.read_reply(op_auth, 0, r), ReadStatus::need_more);
  feed(p, "MN\r\n");
  ASSERT_EQ(p.read_reply(op_auth, 0, r), ReadStatus::reply);
  EXPECT_EQ(r.kind, Kind::ok);
  // A username that is a command ("get") gets its own answer before the no-op.
  MetaProtocol q(server("get", "secret"), std::make_shared<cachette::net::HitCounters>());
  out.clear();
  ASSERT_EQ(q.handshake(out).size(), 1u);
  feed(q, "CLIENT_ERROR bad command line format\r\nEND\r\nMN\r\n");
  Result g;
  ASSERT_EQ(q.read_reply(op_auth, 0, g), ReadStatus::reply);
  EXPECT_EQ(g.kind, Kind::ok);
}

TEST(MemcacheEngineProtocol, ARefusedLoginOnTheDumpConnectionIsAnAuthError) {
  auto job = std::make_shared<DumpJob>("", true);
  DumpProtocol p(server("user", "wrong"), job);
  std::string out;
  ASSERT_EQ(p.handshake(out).size(), 1u);
  feed(p, "CLIENT_ERROR unauthenticated\r\n");
  Result r;
  ASSERT_EQ(p.read_reply(op_auth, 0, r), ReadStatus::reply);
  EXPECT_EQ(r.error_code, Errc::auth);
}

TEST(MemcacheEngineProtocol, DumpCollectsPrefixMatchesAcrossReads) {
  auto job = std::make_shared<DumpJob>("ns:", false);
  DumpProtocol p(server(), job);
  Result r;
  feed(p, "key=ns%3A1 exp=-1 la=1 cas=1 fetch=no cls=1 size=60\nkey=other exp=-1 la=1 ca");
  EXPECT_EQ(p.read_reply(op_dump, 0, r), ReadStatus::need_more);
  EXPECT_FALSE(job->finished.load());
  feed(
      p,
      "s=2 fetch=no cls=1 size=60\nkey=ns%3A%20x exp=5 la=1 cas=3 fetch=no cls=1 size=60\nEND\r\n");
  ASSERT_EQ(p.read_reply(op_dump, 0, r), ReadStatus::reply);
  EXPECT_EQ(r.kind, Kind::list);
  EXPECT_EQ(r.items, (std::vector<std::string>{"ns:1", "ns: x"}));
  EXPECT_TRUE(job->finished.load());
}

TEST(MemcacheEngineProtocol, DumpCountsBusyAndRefusal) {
  auto count = std::make_shared<DumpJob>("", true);
  DumpProtocol c(server(), count);
  feed(c,
       "key=a exp=-1 la=1 cas=1 fetch=no cls=1 size=60\nkey=b exp=-1 la=1 cas=2 fetch=no cls=1 "
       "size=60\nEND\r\n");
  Result n;
  ASSERT_EQ(c.read_reply(op_dump, 0, n), ReadStatus::reply);
  EXPECT_EQ(n.kind, Kind::integer);
  EXPECT_EQ(n.integer, 2);

  DumpProtocol busy(server(), std::make_shared<DumpJob>("x:", false));
  feed(busy, "BUSY currently processing crawler request\r\n");
  Result b;
  ASSERT_EQ(busy.read_reply(op_dump, 0, b), ReadStatus::reply);
  EXPECT_EQ(b.kind, Kind::nil);

  DumpProtocol off(server(), std::make_shared<DumpJob>("x:", false));
  feed(off, "CLIENT_ERROR lru crawler disabled\r\n");
  Result d;
  ASSERT_EQ(off.read_reply(op_dump, 0, d), ReadStatus::reply);
  EXPECT_EQ(d.kind, Kind::error);
  EXPECT_NE(d.value.find("no_lru_crawler"), std::string::npos);
}
