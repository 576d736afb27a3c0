// The Redis client against real servers started by scripts/services.sh.

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "redis_env.hpp"

using cachette::Errc;
using cachette::net::Result;
using cachette::redis::Client;
using cachette::test::options_from_url;
using cachette::test::require_env;
using cachette::test::token;
using cachette::test::Waiter;
using Kind = Result::Kind;

namespace {

Result run(Client& c, std::initializer_list<std::string_view> args) {
  Waiter w;
  std::vector<std::string_view> v(args);
  c.command(v, w.queue(), token(1));
  return w.one();
}

}  // namespace

TEST(RedisClient, GetSetTtlDeleteAndBinaryValues) {
  Client c(options_from_url(require_env("CACHETTE_TEST_REDIS_URL")));
  Waiter w;
  std::string value(1 << 20, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 31);
  c.set("cpp:big", value, 60000, w.queue(), token(1));
  EXPECT_EQ(w.one().kind, Kind::ok);
  c.get("cpp:big", w.queue(), token(2));
  Result r = w.one();
  ASSERT_EQ(r.kind, Kind::value);
  EXPECT_EQ(r.value, value);
  c.get_with_ttl("cpp:big", w.queue(), token(3));
  r = w.one();
  ASSERT_EQ(r.kind, Kind::ttl_value);
  EXPECT_GT(r.integer, 0);
  EXPECT_LE(r.integer, 60000);
  c.set("cpp:forever", "x", 0, w.queue(), token(4));
  w.one();
  c.get_with_ttl("cpp:forever", w.queue(), token(5));
  EXPECT_EQ(w.one().integer, -1);
  c.del("cpp:big", w.queue(), token(6));
  EXPECT_EQ(w.one().integer, 1);
  c.get("cpp:big", w.queue(), token(7));
  EXPECT_EQ(w.one().kind, Kind::nil);
  c.get_with_ttl("cpp:big", w.queue(), token(8));
  EXPECT_EQ(w.one().kind, Kind::nil);
}

TEST(RedisClient, ThreadedPipelinedRequestsAllComplete) {
  Client c(options_from_url(require_env("CACHETTE_TEST_REDIS_URL")));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Waiter w;
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = "cpp:t" + std::to_string(t) + ":" + std::to_string(i);
        c.set(key, key, 60000, w.queue(), token(2 * i + 2));
        c.get(key, w.queue(), token(2 * i + 3));
      }
      auto all = w.collect(2 * kPerThread);
      for (auto& done : all) {
        const auto n = reinterpret_cast<std::uintptr_t>(done.token) - 2;
        if (n % 2 == 1) {
          const std::string key = "cpp:t" + std::to_string(t) + ":" + std::to_string(n / 2);
          if (done.result.kind != Kind::value || done.result.value != key) ++bad;
        } else if (done.result.kind != Kind::ok) {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(c.stats().errors, 0u);
}

TEST(RedisClient, NamespaceScanEscapesGlobCharacters) {
  Client c(options_from_url(require_env("CACHETTE_TEST_REDIS_URL")));
  for (const char* k : {"a*:x", "a*:y", "ab:x", "a?:z", "a[b]:w"}) run(c, {"SET", k, "1"});
  Waiter w;
  c.scan_prefix(0, "a*:", 1000, w.queue(), token(1));
  std::vector<std::string> keys;
  for (;;) {
    Result r = w.one();
    ASSERT_EQ(r.kind, Kind::list);
    keys.insert(keys.end(), r.items.begin(), r.items.end());
    if (r.integer == 0) break;
    c.scan_prefix(r.integer, "a*:", 1000, w.queue(), token(1));
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"a*:x", "a*:y"}));
  std::vector<std::string_view> views(keys.begin(), keys.end());
  c.unlink(views, w.queue(), token(2));
  EXPECT_EQ(w.one().integer, 2);
  EXPECT_EQ(run(c, {"EXISTS", "ab:x", "a?:z", "a[b]:w"}).integer, 3);
}

TEST(RedisClient, AuthWithPasswordAndAclUserAndWrongPassword) {
  Client password(options_from_url(require_env("CACHETTE_TEST_REDIS_AUTH_URL")));
  EXPECT_EQ(run(password, {"PING"}).value, "PONG");
  Client acl(options_from_url(require_env("CACHETTE_TEST_REDIS_ACL_URL")));
  EXPECT_EQ(run(acl, {"ACL", "WHOAMI"}).value, "cachette");
  auto options = options_from_url(require_env("CACHETTE_TEST_REDIS_AUTH_URL"));
  options.credentials.password = "not-the-password";
  Client wrong(options);
  Result r = run(wrong, {"PING"});
  ASSERT_EQ(r.kind, Kind::error);
  EXPECT_EQ(r.error_code, Errc::auth);
  EXPECT_EQ(r.value.find("not-the-password"), std::string::npos);
}

TEST(RedisClient, SelectsTheConfiguredDatabaseAndFlushesOnlyIt) {
  auto o = options_from_url(require_env("CACHETTE_TEST_REDIS_URL"));
  o.credentials.db = 3;
  Client db3(o);
  o.credentials.db = 4;
  Client db4(o);
  run(db3, {"FLUSHDB"});
  run(db3, {"SET", "only-in-3", "1"});
  run(db4, {"SET", "only-in-4", "1"});
  EXPECT_EQ(run(db4, {"EXISTS", "only-in-3"}).integer, 0);
  Waiter w;
  db3.flush(w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 1);
  EXPECT_EQ(run(db4, {"EXISTS", "only-in-4"}).integer, 1);
}

TEST(RedisClient, TlsWithVerifiedCertificate) {
  auto o = options_from_url(require_env("CACHETTE_TEST_REDIS_TLS_URL"));
  o.endpoint.tls_ca_file = require_env("CACHETTE_TEST_REDIS_TLS_CA");
  Client c(o);
  Waiter w;
  c.set("cpp:tls", std::string(100000, 't'), 1000, w.queue(), token(1));
  EXPECT_EQ(w.one().kind, Kind::ok);
  c.get("cpp:tls", w.queue(), token(2));
  EXPECT_EQ(w.one().value.size(), 100000u);
}

TEST(RedisClient, UnixSocket) {
  Client c(options_from_url(require_env("CACHETTE_TEST_REDIS_UNIX_URL")));
  EXPECT_EQ(run(c, {"PING"}).value, "PONG");
}

TEST(RedisClient, Valkey) {
  auto o = options_from_url(require_env("CACHETTE_TEST_VALKEY_URL"));
  o.kind = "valkey";
  Client c(o);
  Waiter w;
  c.set("cpp:valkey", "v", 1000, w.queue(), token(1));
  EXPECT_EQ(w.one().kind, Kind::ok);
  c.get_with_ttl("cpp:valkey", w.queue(), token(2));
  EXPECT_EQ(w.one().kind, Kind::ttl_value);
}

TEST(RedisClient, ServerKilledAndRestarted) {
  const std::string server = require_env("CACHETTE_TEST_REDIS_SERVER");
  const std::string port = require_env("CACHETTE_TEST_REDIS_SPARE_PORT_CPP");
  auto start = [&] {
    pid_t pid = fork();
    if (pid == 0) {
      execl(server.c_str(), server.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save",
            "", "--appendonly", "no", "--loglevel", "warning", nullptr);
      _exit(127);
    }
    return pid;
  };
  pid_t pid = start();
  auto o = options_from_url("redis://127.0.0.1:" + port + "/0");
  o.timeout = std::chrono::milliseconds(500);
  Client c(o);
  auto ping_until_ok = [&] {
    for (int i = 0; i < 200; ++i) {
      Result r = run(c, {"PING"});
      if (r.kind == Kind::value) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  ASSERT_TRUE(ping_until_ok());
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  Result r = run(c, {"PING"});
  ASSERT_EQ(r.kind, Kind::error);
  EXPECT_TRUE(r.error_code == Errc::connection || r.error_code == Errc::timeout);
  pid = start();
  EXPECT_TRUE(ping_until_ok());
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

// A SubmitBatch holds its thread's requests until flush(): nothing reaches the server before
// (no reply can come back), everything does after, in submission order; a batch destroyed
// unflushed sends what it holds; a thread with no open batch is never held back by another's.
TEST(RedisClient, ASubmitBatchSendsItsRequestsWhenFlushed) {
  using cachette::net::SubmitBatch;
  Client c(options_from_url(require_env("CACHETTE_TEST_REDIS_URL")));
  Waiter w;
  c.set("cpp:batch", "held", 60000, w.queue(), token(1));
  ASSERT_EQ(w.one().kind, Kind::ok);

  SubmitBatch batch;
  {
    SubmitBatch::Scope scope(batch);
    for (std::uintptr_t i = 0; i < 50; ++i) c.get("cpp:batch", w.queue(), token(100 + i));
  }
  EXPECT_FALSE(batch.empty());
  EXPECT_FALSE(w.queue()->wait(std::chrono::milliseconds(200))) << "a held request was sent";

  // Another thread's request is not held back by this one's open batch, and takes the
  // held requests along with it (they share the pool's submission buffer).
  Waiter other;
  std::thread([&] { c.get("cpp:batch", other.queue(), token(7)); }).join();
  EXPECT_EQ(other.one().value, "held");
  auto early = w.collect(50);
  batch.flush();  // nothing left to send: no harm
  EXPECT_TRUE(batch.empty());
  for (std::size_t i = 0; i < early.size(); ++i) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(early[i].token), 100 + i);  // in order
    EXPECT_EQ(early[i].result.value, "held");
  }

  {
    SubmitBatch::Scope scope(batch);
    c.get("cpp:batch", w.queue(), token(200));
  }
  EXPECT_FALSE(w.queue()->wait(std::chrono::milliseconds(100)));
  batch.flush();
  EXPECT_EQ(w.one().value, "held");

  {
    SubmitBatch scoped_batch;
    SubmitBatch::Scope scope(scoped_batch);
    c.get("cpp:batch", w.queue(), token(300));
  }  // the scope closes, then the batch is destroyed: it flushes
  EXPECT_EQ(w.one().value, "held");
}
