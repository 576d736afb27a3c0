// The connection state machine driven by scripted bytes: no socket, no server.

#include <gtest/gtest.h>

#include <cstring>

#include "cachette/net/connection.hpp"
#include "cachette/redis/protocol.hpp"
#include "cachette/resp/encoder.hpp"

using namespace cachette;
using net::Clock;
using net::Completion;
using net::CompletionQueue;
using net::CompletionSink;
using net::Connection;
using net::Request;
using net::Result;

namespace {

struct Harness {
  explicit Harness(redis::Credentials credentials = {})
      : queue(std::make_shared<CompletionQueue>()),
        connection(std::make_unique<redis::RespProtocol>(
            std::make_shared<const redis::Credentials>(std::move(credentials)),
            std::make_shared<net::HitCounters>())) {}

  std::string written() {
    const std::string* out = connection.begin_write();
    std::string bytes = out ? *out : std::string();
    if (out) connection.on_written();
    return bytes;
  }
  bool reply(std::string_view bytes) {
    auto room = connection.read_buffer(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    CompletionSink sink;
    const bool ok = connection.on_read(bytes.size(), sink);
    sink.flush();
    return ok;
  }
  void submit(std::uint16_t op, std::uint16_t replies, std::uintptr_t token,
              std::initializer_list<std::string_view> args) {
    std::string bytes;
    resp::append_command(bytes, args);
    std::vector<Request> requests{
        {op, replies, reinterpret_cast<void*>(token), queue, Clock::now(), bytes.size()}};
    connection.enqueue(bytes, requests);
  }
  std::vector<Completion> completions() {
    std::vector<Completion> out;
    queue->drain(out);
    return out;
  }

  std::shared_ptr<CompletionQueue> queue;
  Connection connection;
};

}  // namespace

TEST(NetConnection, HandshakeThenPipelinedRepliesInOrder) {
  redis::Credentials credentials;
  credentials.username = "app";
  credentials.password = "pw";
  credentials.db = 2;
  Harness h(credentials);
  h.connection.on_connected(Clock::now());
  EXPECT_EQ(h.connection.state(), Connection::State::handshaking);
  EXPECT_EQ(h.written(),
            "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n"
            "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
  ASSERT_TRUE(h.reply("%1\r\n+server\r\n+redis\r\n+O"));
  EXPECT_EQ(h.connection.state(), Connection::State::handshaking);
  ASSERT_TRUE(h.reply("K\r\n"));
  EXPECT_EQ(h.connection.state(), Connection::State::ready);

  h.submit(redis::op_get, 1, 1, {"GET", "a"});
  h.submit(redis::op_set, 1, 2, {"SET", "b", "v"});
  h.submit(redis::op_get, 1, 3, {"GET", "missing"});
  EXPECT_EQ(h.written(),
            "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\nv\r\n"
            "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n");
  // A push message in between is skipped; replies split anywhere still match in order.
  ASSERT_TRUE(h.reply("$5\r\nhel"));
  EXPECT_TRUE(h.completions().empty());
  ASSERT_TRUE(h.reply("lo\r\n>2\r\n+invalidate\r\n_\r\n+OK\r\n_\r\n"));
  auto done = h.completions();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].token, reinterpret_cast<void*>(1));
  EXPECT_EQ(done[0].result.value, "hello");
  EXPECT_EQ(done[1].result.kind, Result::Kind::ok);
  EXPECT_EQ(done[2].result.kind, Result::Kind::nil);
  EXPECT_EQ(h.connection.in_flight(), 0u);
}

TEST(NetConnection, TransactionRepliesFoldIntoOneResult) {
  Harness h;
  h.connection.on_connected(Clock::now());
  ASSERT_TRUE(h.reply("%0\r\n"));
  std::string bytes = "(multi pttl get exec)";
  std::vector<Request> requests{
      {redis::op_get_with_ttl, 4, reinterpret_cast<void*>(7), h.queue, Clock::now(), 0}};
  h.connection.enqueue(bytes, requests);
  ASSERT_TRUE(h.reply("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1500\r\n$1\r\nx\r\n"));
  auto done = h.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result.kind, Result::Kind::ttl_value);
  EXPECT_EQ(done[0].result.integer, 1500);
  EXPECT_EQ(done[0].result.value, "x");
}

TEST(NetConnection, RefusedHandshakeIsAnAuthFailure) {
  redis::Credentials credentials;
  credentials.password = "wrong";
  Harness h(credentials);
  h.connection.on_connected(Clock::now());
  h.written();
  EXPECT_FALSE(h.reply("-WRONGPASS invalid username-password pair\r\n"));
  EXPECT_EQ(h.connection.failure().code(), Errc::auth);
  EXPECT_EQ(std::string(h.connection.failure().what()).find("wrong"), std::string::npos);
}

TEST(NetConnection, ServerWithoutHelloFallsBackToResp2) {
  redis::Credentials credentials;
  credentials.password = "pw";
  auto shared = std::make_shared<const redis::Credentials>(credentials);
  auto protocol =
      std::make_unique<redis::RespProtocol>(shared, std::make_shared<net::HitCounters>());
  redis::RespProtocol* raw = protocol.get();
  Connection c(std::move(protocol));
  c.on_connected(Clock::now());
  const char reply[] = "-ERR unknown command 'HELLO'\r\n";
  auto room = c.read_buffer(sizeof reply);
  std::memcpy(room.data(), reply, sizeof reply - 1);
  CompletionSink sink;
  EXPECT_FALSE(c.on_read(sizeof reply - 1, sink));
  EXPECT_EQ(c.failure().code(), Errc::protocol);
  EXPECT_TRUE(raw->resp2());
  CompletionSink sink2;
  c.on_closed(Errc::connection, "reconnecting", sink2);
  c.on_connected(Clock::now());
  const std::string* out = c.begin_write();
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(*out, "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
}

TEST(NetConnection, MalformedReplyAndUnaskedRepliesDropTheConnection) {
  Harness h;
  h.connection.on_connected(Clock::now());
  ASSERT_TRUE(h.reply("%0\r\n"));
  EXPECT_FALSE(h.reply(":1\r\n"));  // nobody asked
  Harness g;
  g.connection.on_connected(Clock::now());
  ASSERT_TRUE(g.reply("%0\r\n"));
  g.submit(redis::op_get, 1, 1, {"GET", "a"});
  EXPECT_FALSE(g.reply("?garbage\r\n"));
  EXPECT_EQ(g.connection.failure().code(), Errc::protocol);
  CompletionSink sink;
  g.connection.on_closed(Errc::connection, "dropped", sink);
  sink.flush();
  auto done = g.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result.kind, Result::Kind::error);
  EXPECT_EQ(done[0].result.error_code, Errc::connection);
}

TEST(NetConnection, WritesBatchWhateverWasQueuedDuringTheLastWrite) {
  Harness h;
  h.connection.on_connected(Clock::now());
  ASSERT_TRUE(h.reply("%0\r\n"));
  h.submit(redis::op_get, 1, 1, {"GET", "a"});
  const std::string* first = h.connection.begin_write();
  ASSERT_NE(first, nullptr);
  h.submit(redis::op_get, 1, 2, {"GET", "b"});
  h.submit(redis::op_get, 1, 3, {"GET", "c"});
  EXPECT_EQ(h.connection.begin_write(), nullptr);  // one write at a time
  h.connection.on_written();
  EXPECT_EQ(h.written(), "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*2\r\n$3\r\nGET\r\n$1\r\nc\r\n");
}

TEST(RedisGlob, EscapesEveryGlobCharacter) {
  EXPECT_EQ(redis::escape_glob("a*b?c[d]e\\f:"), "a\\*b\\?c\\[d\\]e\\\\f:");
  EXPECT_EQ(redis::classify_error("NOAUTH Authentication required."), Errc::auth);
  EXPECT_EQ(redis::classify_error("WRONGTYPE Operation"), Errc::protocol);
}

namespace {

// Replies fed to a bare RespProtocol, read as the replies of one request of opcode `op`.
Result decode_replies(std::uint16_t op, std::string_view bytes, std::uint16_t replies) {
  redis::RespProtocol p(std::make_shared<const redis::Credentials>(),
                        std::make_shared<net::HitCounters>());
  auto room = p.prepare(bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  p.commit(bytes.size());
  Result r;
  for (std::uint16_t i = 0; i < replies; ++i) {
    EXPECT_EQ(p.read_reply(op, i, r), net::ReadStatus::reply);
  }
  return r;
}

}  // namespace

TEST(RedisFullServer, OomIsStoreFullAndWinsOverTheAbortedTransaction) {
  EXPECT_EQ(redis::classify_error("OOM command not allowed when used memory > 'maxmemory'."),
            Errc::store_full);
  // What a server at maxmemory answers to MULTI PTTL GET EXEC: every queued command refused.
  const Result r =
      decode_replies(redis::op_get_with_ttl,
                     "+OK\r\n-OOM command not allowed when used memory > 'maxmemory'.\r\n"
                     "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
                     "-EXECABORT Transaction discarded because of previous errors.\r\n",
                     4);
  EXPECT_EQ(r.kind, Result::Kind::error);
  EXPECT_EQ(r.error_code, Errc::store_full);
}

TEST(RedisFullServer, TheScriptFormsDecodeLikeTheTransactions) {
  const Result hit =
      decode_replies(redis::op_get_with_ttl_script, "*2\r\n:5000\r\n$3\r\nval\r\n", 1);
  EXPECT_EQ(hit.kind, Result::Kind::ttl_value);
  EXPECT_EQ(hit.integer, 5000);
  EXPECT_EQ(hit.value, "val");
  EXPECT_EQ(decode_replies(redis::op_get_with_ttl_script, "_\r\n", 1).kind, Result::Kind::nil);
  EXPECT_EQ(decode_replies(redis::op_get_with_ttl_script, "$-1\r\n", 1).kind, Result::Kind::nil);
  const Result flushed = decode_replies(redis::op_flush_script, ":7\r\n", 1);
  EXPECT_EQ(flushed.kind, Result::Kind::integer);
  EXPECT_EQ(flushed.integer, 7);
  // The scripts name no key in their text: keys travel as KEYS[1].
  EXPECT_EQ(std::string_view(redis::kReadWithTtlScript).find("KEYS[1]") != std::string_view::npos,
            true);
}
