// The memcached client against real servers started by scripts/services.sh.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "memcache_env.hpp"

using cachette::Errc;
using cachette::net::Result;
using namespace cachette::memcache;
using namespace cachette::memcache::test;
using Kind = Result::Kind;

namespace {

std::string unique(std::string_view stem) {
  static std::atomic<int> n{0};
  return std::string(stem) + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" +
         std::to_string(std::random_device{}());
}

// clear(namespace=): one whole engine operation over every server.
std::int64_t clear_prefix(Client& c, const std::string& prefix) {
  Waiter w;
  c.clear_prefix(prefix, w.queue(), token(0));
  Result r = w.one();
  EXPECT_EQ(r.kind, Kind::integer) << r.value;
  return r.integer;
}

std::vector<std::string> awkward_keys() {
  std::vector<std::string> keys = {
      "plain",
      "with space",
      std::string("nul\0byte", 8),
      "tab\tnew\nline\r",
      "unicode-\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
      std::string(250, 'k'),
      std::string(251, 'k'),
      std::string(186, ' '),
      std::string(187, ' '),
      std::string(5000, '\x01'),
      "~#looks-hashed",
      "",
  };
  std::mt19937 rng(7);
  std::string binary(300, '\0');
  for (char& ch : binary) ch = static_cast<char>(rng());
  keys.push_back(binary);
  return keys;
}

}  // namespace

TEST(MemcacheClient, FetchPutDeleteAndExactTtl) {
  Client c(options_from(require_env("CACHETTE_TEST_MEMCACHED_HOST")));
  Waiter w;
  const std::string key = unique("cpp:basic:");
  std::string value(100000, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 131);
  c.set(key, value, 100000, w.queue(), token(1));
  EXPECT_EQ(w.one().kind, Kind::ok);
  c.get(key, w.queue(), token(2));
  Result r = w.one();
  ASSERT_EQ(r.kind, Kind::value);
  EXPECT_EQ(r.value, value);
  c.get_with_ttl(key, w.queue(), token(3));
  r = w.one();
  ASSERT_EQ(r.kind, Kind::ttl_value);
  EXPECT_EQ(r.value, value);
  // memcached keeps whole seconds; at most one second tick can pass between set and read.
  EXPECT_GE(r.integer, 99000);
  EXPECT_LE(r.integer, 100000);
  c.set(key, "forever", 0, w.queue(), token(4));
  EXPECT_EQ(w.one().kind, Kind::ok);
  c.get_with_ttl(key, w.queue(), token(5));
  r = w.one();
  EXPECT_EQ(r.kind, Kind::ttl_value);
  EXPECT_EQ(r.integer, -1);
  EXPECT_EQ(r.value, "forever");
  c.del(key, w.queue(), token(6));
  r = w.one();
  EXPECT_EQ(r.kind, Kind::integer);
  EXPECT_EQ(r.integer, 1);
  c.del(key, w.queue(), token(7));
  EXPECT_EQ(w.one().integer, 0);
  c.get(key, w.queue(), token(8));
  EXPECT_EQ(w.one().kind, Kind::nil);
  c.get_with_ttl(key, w.queue(), token(9));
  EXPECT_EQ(w.one().kind, Kind::nil);
  EXPECT_THROW(c.set(key, "x", 31LL * 86400 * 1000, w.queue(), token(10)), cachette::Error);
}

TEST(MemcacheClient, AnyKeyRoundTripsToItsOwnValue) {
  Client c(options_from(require_env("CACHETTE_TEST_MEMCACHED_HOST")));
  Waiter w;
  const std::string stem = unique("cpp:keys:");
  std::vector<std::string> keys = awkward_keys();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i + 1 < keys.size()) keys[i] = stem + keys[i];  // the empty key stays empty
    c.set(keys[i], "value-" + std::to_string(i), 60000, w.queue(), token(i));
  }
  for (auto& done : w.collect(keys.size()))
    EXPECT_EQ(done.result.kind, Kind::ok) << done.result.value;
  for (std::size_t i = 0; i < keys.size(); ++i) c.get(keys[i], w.queue(), token(i));
  for (auto& done : w.collect(keys.size())) {
    const auto i = token_number(done.token);
    ASSERT_EQ(done.result.kind, Kind::value) << "key " << i;
    EXPECT_EQ(done.result.value, "value-" + std::to_string(i)) << "key " << i;
  }
}

TEST(MemcacheClient, NamespaceClearCountsEveryMappedFormAndNothingElse) {
  Client c(options_from(require_env("CACHETTE_TEST_MEMCACHED_CLUSTER")));
  Waiter w;
  const std::string ns = unique("cpp-ns-");
  std::vector<std::string> inside;
  for (int i = 0; i < 200; ++i) inside.push_back(ns + ":" + std::to_string(i));
  for (const std::string& k : awkward_keys()) inside.push_back(ns + ":" + k);
  const std::vector<std::string> outside = {ns, ns + "x:1", ns + ";1", "x" + ns + ":1"};
  std::uintptr_t n = 0;
  for (const auto& k : inside) c.set(k, "in", 60000, w.queue(), token(n++));
  for (const auto& k : outside) c.set(k, "out", 60000, w.queue(), token(n++));
  for (auto& done : w.collect(n)) ASSERT_EQ(done.result.kind, Kind::ok) << done.result.value;

  std::set<std::size_t> servers;
  for (const auto& k : inside) servers.insert(c.server_of(k));
  EXPECT_EQ(servers.size(), 3u) << "200 keys should land on all three servers";

  EXPECT_EQ(clear_prefix(c, ns + ":"), static_cast<std::int64_t>(inside.size()));
  for (std::size_t i = 0; i < inside.size(); ++i) c.get(inside[i], w.queue(), token(i));
  for (auto& done : w.collect(inside.size())) EXPECT_EQ(done.result.kind, Kind::nil);
  for (std::size_t i = 0; i < outside.size(); ++i) c.get(outside[i], w.queue(), token(i));
  for (auto& done : w.collect(outside.size())) EXPECT_EQ(done.result.value, "out");
  EXPECT_EQ(clear_prefix(c, ns + ":"), 0);
}

TEST(MemcacheClient, ValueOverTheItemLimitFailsAndLeavesNoItem) {
  Client c(options_from(require_env("CACHETTE_TEST_MEMCACHED_SMALL_HOST")));
  const std::size_t limit = std::stoul(require_env("CACHETTE_TEST_MEMCACHED_SMALL_ITEM_LIMIT"));
  Waiter w;
  const std::string key = unique("cpp:large:");
  c.set(key, "old value", 60000, w.queue(), token(1));
  ASSERT_EQ(w.one().kind, Kind::ok);
  c.set(key, std::string(limit + 1, 'v'), 60000, w.queue(), token(2));
  Result r = w.one();
  ASSERT_EQ(r.kind, Kind::error);
  EXPECT_EQ(r.error_code, Errc::value_too_large);
  EXPECT_NE(r.value.find("item size limit"), std::string::npos) << r.value;
  // Neither the new value nor the old one: the key is absent, and the connection still works.
  c.get(key, w.queue(), token(3));
  EXPECT_EQ(w.one().kind, Kind::nil);
  c.set(key, std::string(limit / 2, 'v'), 60000, w.queue(), token(4));
  EXPECT_EQ(w.one().kind, Kind::ok);
}

TEST(MemcacheClient, AuthenticatesAndReportsRefusedCredentials) {
  {
    Client c(options_from(require_env("CACHETTE_TEST_MEMCACHED_AUTH_HOST")));
    Waiter w;
    const std::string key = unique("cpp:auth:");
    c.set(key, "secret stuff", 60000, w.queue(), token(1));
    EXPECT_EQ(w.one().kind, Kind::ok);
    c.get(key, w.queue(), token(2));
    EXPECT_EQ(w.one().value, "secret stuff");
    EXPECT_EQ(clear_prefix(c, key.substr(0, key.find(':', 4))), 1);
  }
  {
    ClientOptions o = options_from(require_env("CACHETTE_TEST_MEMCACHED_AUTH_WRONG_HOST"));
    const std::string password = o.servers[0].credentials.password;
    Client c(std::move(o));
    Waiter w;
    c.get("k", w.queue(), token(1));
    Result r = w.one();
    ASSERT_EQ(r.kind, Kind::error);
    EXPECT_EQ(r.error_code, Errc::auth) << r.value;
    EXPECT_EQ(r.value.find(password), std::string::npos);
  }
}

TEST(MemcacheClient, UnixSocketAndTls) {
  for (const char* name :
       {"CACHETTE_TEST_MEMCACHED_UNIX_HOST", "CACHETTE_TEST_MEMCACHED_TLS_HOST"}) {
    ClientOptions o = options_from(require_env(name));
    if (o.servers[0].endpoint.tls)
      o.servers[0].endpoint.tls_ca_file = require_env("CACHETTE_TEST_MEMCACHED_TLS_CA");
    Client c(std::move(o));
    Waiter w;
    const std::string key = unique("cpp:transport:");
    c.set(key, name, 60000, w.queue(), token(1));
    EXPECT_EQ(w.one().kind, Kind::ok) << name;
    c.get_with_ttl(key, w.queue(), token(2));
    Result r = w.one();
    EXPECT_EQ(r.kind, Kind::ttl_value) << name << ": " << r.value;
    EXPECT_EQ(r.value, name);
  }
}

TEST(MemcacheClient, FlushCountsThenEmptiesEveryServer) {
  const auto port =
      static_cast<std::uint16_t>(std::stoi(require_env("CACHETTE_TEST_MEMCACHED_SPARE_PORT_CPP")));
  PrivateServer server(port);
  Client c(options_from(server.address()));
  Waiter w;
  for (int i = 0; i < 50; ++i) c.set("f" + std::to_string(i), "v", 60000, w.queue(), token(i));
  w.collect(50);
  c.flush(w.queue(), token(1));
  Result count = w.one();
  EXPECT_EQ(count.kind, Kind::integer) << count.value;
  EXPECT_EQ(count.integer, 50);
  c.get("f1", w.queue(), token(3));
  EXPECT_EQ(w.one().kind, Kind::nil);
  c.flush(w.queue(), token(4));
  EXPECT_EQ(w.one().integer, 0);
}

TEST(MemcacheClient, DeadServerFailsOnlyItsKeysThenRecovers) {
  const auto port =
      static_cast<std::uint16_t>(std::stoi(require_env("CACHETTE_TEST_MEMCACHED_SPARE_PORT_CPP")));
  PrivateServer spare(port);
  const std::string cluster = require_env("CACHETTE_TEST_MEMCACHED_CLUSTER");
  ClientOptions o = options_from(cluster.substr(0, cluster.rfind(',')) + "," + spare.address());
  o.timeout = std::chrono::milliseconds(500);
  o.connect_timeout = std::chrono::milliseconds(300);
  Client c(std::move(o));
  Waiter w;
  const std::string stem = unique("cpp:dead:");
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) keys.push_back(stem + std::to_string(i));
  for (std::size_t i = 0; i < keys.size(); ++i) c.set(keys[i], keys[i], 60000, w.queue(), token(i));
  for (auto& done : w.collect(keys.size())) ASSERT_EQ(done.result.kind, Kind::ok);

  spare.stop();
  std::size_t spare_keys = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) c.get(keys[i], w.queue(), token(i));
  for (auto& done : w.collect(keys.size())) {
    const std::string& key = keys[token_number(done.token)];
    if (c.server_of(key) == 2) {
      ++spare_keys;
      ASSERT_EQ(done.result.kind, Kind::error) << key;
      EXPECT_TRUE(done.result.error_code == Errc::connection ||
                  done.result.error_code == Errc::timeout)
          << cachette::to_string(done.result.error_code);
      EXPECT_NE(done.result.value.find(std::to_string(port)), std::string::npos)
          << done.result.value;
    } else {
      EXPECT_EQ(done.result.value, key);
    }
  }
  EXPECT_GT(spare_keys, 0u);

  spare.start();
  const std::string probe = [&] {
    for (const auto& k : keys) {
      if (c.server_of(k) == 2) return k;
    }
    return std::string();
  }();
  bool recovered = false;
  for (int attempt = 0; attempt < 100 && !recovered; ++attempt) {
    c.set(probe, "back", 60000, w.queue(), token(1));
    recovered = w.one().kind == Kind::ok;
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(recovered) << "no reconnect after the server came back";
  c.get(probe, w.queue(), token(2));
  EXPECT_EQ(w.one().value, "back");
}

TEST(MemcacheClient, ThreadedPipelinedRequestsAllComplete) {
  Client c(options_from(require_env("CACHETTE_TEST_MEMCACHED_CLUSTER")));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  const std::string stem = unique("cpp:threads:");
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Waiter w;
      auto key = [&](std::uintptr_t i) {
        return stem + std::to_string(t) + ":" + std::to_string(i);
      };
      // Sets and gets of one key may take different connections of the pool, so the gets
      // only start once every set is acknowledged.
      for (int i = 0; i < kPerThread; ++i) c.set(key(i), key(i), 60000, w.queue(), token(2 * i));
      for (auto& done : w.collect(kPerThread)) {
        if (done.result.kind != Kind::ok) ++bad;
      }
      for (int i = 0; i < kPerThread; ++i) c.get(key(i), w.queue(), token(2 * i + 1));
      for (auto& done : w.collect(kPerThread)) {
        const auto n = token_number(done.token);
        const bool ok = n % 2 == 0
                            ? done.result.kind == Kind::ok
                            : done.result.kind == Kind::value && done.result.value == key(n / 2);
        if (!ok) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  const cachette::net::ClientStats s = c.stats();
  EXPECT_GE(s.hits, static_cast<std::uint64_t>(kThreads * kPerThread));
}
