// The pool's dispatcher driven by scripted events and a manual clock: no socket, no timer.

#include <gtest/gtest.h>

#include <cstring>

#include "cachette/net/dispatcher.hpp"

using namespace cachette;
using namespace std::chrono_literals;
using net::Clock;
using net::Completion;
using net::CompletionQueue;
using net::CompletionSink;
using net::Dispatcher;
using net::Request;
using net::Result;

namespace {

// Replies are lines; each line answers the oldest request with its text.
class LineProtocol final : public net::Protocol {
 public:
  void reset() override { buffer_.clear(); }
  std::span<const Request> handshake(std::string&) override { return {}; }
  std::span<char> prepare(std::size_t min_size) override {
    room_.resize(min_size);
    return room_;
  }
  void commit(std::size_t n) override { buffer_.append(room_.data(), n); }
  net::ReadStatus read_reply(std::uint16_t op, std::uint16_t, Result& result) override {
    const std::size_t end = buffer_.find('\n');
    if (end == std::string::npos) return net::ReadStatus::need_more;
    if (op == 0xffff) return net::ReadStatus::reply;  // unasked
    result.kind = Result::Kind::value;
    result.value = buffer_.substr(0, end);
    buffer_.erase(0, end + 1);
    return net::ReadStatus::reply;
  }
  std::string fatal_message() const override { return "bad line"; }

 private:
  std::string buffer_;
  std::string room_;
};

struct Harness {
  explicit Harness(std::size_t links) : dispatcher(options(links)) {
    dispatcher.start(actions);
    EXPECT_EQ(actions.connect.size(), links);
    actions = {};
  }

  static net::DispatcherOptions options(std::size_t links) {
    net::DispatcherOptions o;
    o.links = links;
    o.timeout = 1000ms;
    o.name = "test";
    o.make_protocol = [] { return std::make_unique<LineProtocol>(); };
    return o;
  }

  void submit(std::uintptr_t token, std::string_view line) {
    std::string bytes(line);
    bytes += '\n';
    std::vector<Request> requests{
        {1, 1, reinterpret_cast<void*>(token), queue, now + 1000ms, bytes.size()}};
    dispatcher.submit(bytes, requests, sink, actions);
    sink.flush();
  }
  std::string written(std::size_t link) {
    const std::string* out = dispatcher.connection(link).begin_write();
    std::string bytes = out ? *out : std::string();
    if (out) dispatcher.on_written(link, actions);
    return bytes;
  }
  void reply(std::size_t link, std::string_view bytes) {
    auto room = dispatcher.connection(link).read_buffer(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    dispatcher.on_read(link, bytes.size(), now, false, sink, actions);
    sink.flush();
  }
  void tick() {
    dispatcher.on_tick(now, sink, actions);
    sink.flush();
  }
  std::vector<Completion> completions() {
    std::vector<Completion> out;
    queue->drain(out);
    return out;
  }

  Clock::time_point now = Clock::now();  // the manual clock: only the test moves it
  std::shared_ptr<CompletionQueue> queue = std::make_shared<CompletionQueue>();
  Dispatcher dispatcher;
  Dispatcher::Actions actions;
  CompletionSink sink;
};

std::uintptr_t token_of(const Completion& c) {
  return reinterpret_cast<std::uintptr_t>(c.token);
}

TEST(Dispatcher, StalledServerRequestsFailAtTheirDeadline) {
  Harness h(1);
  h.dispatcher.on_transport_up(0, h.now, h.actions);
  h.submit(1, "a");
  h.submit(2, "b");
  EXPECT_EQ(h.written(0), "a\nb\n");
  h.now += 999ms;
  h.tick();
  EXPECT_TRUE(h.completions().empty()) << "nothing may fail before its deadline";
  EXPECT_TRUE(h.actions.drop.empty());
  h.now += 1ms;
  h.tick();
  auto done = h.completions();
  ASSERT_EQ(done.size(), 2u);
  for (const Completion& c : done) {
    EXPECT_EQ(c.result.kind, Result::Kind::error);
    EXPECT_EQ(c.result.error_code, Errc::timeout);
    EXPECT_NE(c.result.value.find("no reply within 1 s"), std::string::npos) << c.result.value;
  }
  // The link is dropped (a reply cannot be skipped) and, having been up, reopened at once.
  ASSERT_EQ(h.actions.drop, std::vector<std::size_t>{0});
  ASSERT_EQ(h.actions.connect.size(), 1u);
  EXPECT_EQ(h.actions.connect[0].second, 0ms);
  EXPECT_EQ(h.dispatcher.stats().timeouts.load(), 2u);
}

TEST(Dispatcher, ReconnectKeepsSubmissionOrder) {
  Harness h(2);
  h.dispatcher.on_transport_up(0, h.now, h.actions);
  h.submit(1, "first");
  EXPECT_EQ(h.written(0), "first\n");
  // The server drops the connection; link 1 is still connecting, so requests wait.
  h.dispatcher.on_failure(0, Errc::connection, "the server closed the connection", h.sink,
                          h.actions);
  h.sink.flush();
  auto lost = h.completions();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].result.error_code, Errc::connection);
  h.submit(2, "second");
  h.submit(3, "third");
  h.submit(4, "fourth");
  EXPECT_TRUE(h.completions().empty()) << "waiting for a connection, not failed";
  // Whichever link comes up first takes the waiting requests, in the order they came.
  h.dispatcher.on_transport_up(1, h.now, h.actions);
  h.submit(5, "fifth");
  EXPECT_EQ(h.written(1), "second\nthird\nfourth\nfifth\n");
  h.dispatcher.on_transport_up(0, h.now, h.actions);
  h.submit(6, "sixth");  // link 1 still has requests in flight: it stays there
  EXPECT_EQ(h.written(0), "");
  EXPECT_EQ(h.written(1), "sixth\n");
  h.reply(1, "2\n3\n4\n5\n6\n");
  auto done = h.completions();
  ASSERT_EQ(done.size(), 5u);
  for (std::size_t i = 0; i < done.size(); ++i) {
    EXPECT_EQ(token_of(done[i]), i + 2);
    EXPECT_EQ(done[i].result.value, std::to_string(i + 2));
  }
}

TEST(Dispatcher, WaitingRequestsExpireAtTheirDeadline) {
  Harness h(1);
  h.submit(1, "a");
  h.now += 500ms;
  h.submit(2, "b");
  h.now += 500ms;
  h.tick();
  auto done = h.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(token_of(done[0]), 1u);
  EXPECT_EQ(done[0].result.error_code, Errc::timeout);
  h.dispatcher.on_transport_up(0, h.now, h.actions);
  EXPECT_EQ(h.written(0), "b\n") << "the expired request's bytes never reach the server";
}

TEST(Dispatcher, EveryLinkDownFailsAtOnceAndBacksOff) {
  Harness h(1);
  h.submit(1, "a");
  h.dispatcher.on_failure(0, Errc::connection, "connect failed: refused", h.sink, h.actions);
  h.sink.flush();
  ASSERT_EQ(h.completions().size(), 1u);  // the waiting request
  ASSERT_EQ(h.actions.connect.size(), 1u);
  EXPECT_EQ(h.actions.connect[0].second, 50ms);
  h.actions = {};
  h.submit(2, "b");  // down: fails at once with the last error, no waiting
  auto now_failed = h.completions();
  ASSERT_EQ(now_failed.size(), 1u);
  EXPECT_NE(now_failed[0].result.value.find("refused"), std::string::npos);
  for (auto expected : {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms}) {
    h.dispatcher.on_failure(0, Errc::connection, "connect failed: refused", h.sink, h.actions);
    ASSERT_EQ(h.actions.connect.size(), 1u);
    EXPECT_EQ(h.actions.connect[0].second, expected);
    h.actions = {};
  }
}

TEST(Dispatcher, CloseFailsEverythingAndRefusesMore) {
  Harness h(1);
  h.dispatcher.on_transport_up(0, h.now, h.actions);
  h.submit(1, "a");
  h.dispatcher.close(h.sink, h.actions);
  h.sink.flush();
  h.submit(2, "b");
  auto done = h.completions();
  ASSERT_EQ(done.size(), 2u);
  for (const Completion& c : done) EXPECT_EQ(c.result.error_code, Errc::closed);
}

}  // namespace
