// The cluster client against the Redis and Valkey clusters and the Sentinel group started by
// scripts/services.d/redis-cluster.sh.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "cluster_env.hpp"

using cachette::Errc;
using cachette::net::Result;
using cachette::redis::ClusterClient;
using cachette::redis::ClusterOptions;
using cachette::redis::key_slot;
using namespace cachette::test;
using Kind = Result::Kind;

namespace {

Result refresh(ClusterClient& c) {
  Waiter w;
  c.refresh(w.queue(), token(1));
  return w.one();
}

Result set(ClusterClient& c, const std::string& key, const std::string& value,
           std::int64_t ttl = 0) {
  Waiter w;
  c.set(key, value, ttl, w.queue(), token(1));
  return w.one();
}

Result get(ClusterClient& c, const std::string& key) {
  Waiter w;
  c.get(key, w.queue(), token(1));
  return w.one();
}

class ClusterKinds : public ::testing::TestWithParam<const char*> {};

// The node (port) whose CLUSTER SHARDS entry owns `slot`, and the id of every node by port.
struct NodeIds {
  std::map<std::uint16_t, std::string> id_by_port;
  std::uint16_t owner = 0;
};

NodeIds nodes_of(std::uint16_t any_port, std::uint16_t slot) {
  NodeIds out;
  auto c = node_client(any_port);
  Result r = node_command(*c, {"CLUSTER", "NODES"});
  std::stringstream in(r.value);
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string id, addr, flags, master, ping, pong, epoch, link;
    fields >> id >> addr >> flags >> master >> ping >> pong >> epoch >> link;
    if (id.empty()) continue;
    const auto port = static_cast<std::uint16_t>(std::stoi(addr.substr(addr.find(':') + 1)));
    out.id_by_port[port] = id;
    if (flags.find("master") == std::string::npos) continue;
    std::string range;
    while (fields >> range) {
      if (range.front() == '[') continue;
      const auto dash = range.find('-');
      const int first = std::stoi(range.substr(0, dash));
      const int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
      if (slot >= first && slot <= last) out.owner = port;
    }
  }
  return out;
}

}  // namespace

TEST_P(ClusterKinds, DiscoversThreePrimariesCoveringEverySlot) {
  ClusterClient c(cluster_options(GetParam()));
  ASSERT_EQ(refresh(c).kind, Kind::ok);
  const auto layout = c.layout();
  EXPECT_EQ(layout.shards, 3u);
  EXPECT_EQ(layout.covered_slots, 16384u);
  EXPECT_FALSE(layout.standalone);
}

TEST_P(ClusterKinds, KeysOnEveryNodeRoundTrip) {
  ClusterClient c(cluster_options(GetParam()));
  Waiter w;
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) {
    const std::string key = "cpp:cl:rt:" + std::to_string(i);
    c.set(key, "v" + std::to_string(i), i % 2 ? 60000 : 0, w.queue(), token(i + 1));
  }
  for (auto& done : w.collect(n)) EXPECT_EQ(done.result.kind, Kind::ok) << done.result.value;
  for (int i = 0; i < n; ++i) c.get("cpp:cl:rt:" + std::to_string(i), w.queue(), token(i + 1));
  for (auto& done : w.collect(n)) {
    const auto i = reinterpret_cast<std::uintptr_t>(done.token) - 1;
    ASSERT_EQ(done.result.kind, Kind::value);
    EXPECT_EQ(done.result.value, "v" + std::to_string(i));
  }
  c.get_with_ttl("cpp:cl:rt:1", w.queue(), token(1));
  Result r = w.one();
  ASSERT_EQ(r.kind, Kind::ttl_value);
  EXPECT_GT(r.integer, 0);
  EXPECT_EQ(r.value, "v1");
  c.get_with_ttl("cpp:cl:rt:2", w.queue(), token(1));
  EXPECT_EQ(w.one().integer, -1);
  c.add("cpp:cl:rt:2", "other", 0, w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 0);
  c.add("cpp:cl:rt:new", "mine", 0, w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 1);
  c.del_if_equal("cpp:cl:rt:new", "not mine", w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 0);
  c.del_if_equal("cpp:cl:rt:new", "mine", w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 1);
  c.del("cpp:cl:rt:3", w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 1);
  c.get_with_ttl("cpp:cl:rt:3", w.queue(), token(1));
  EXPECT_EQ(w.one().kind, Kind::nil);
}

TEST_P(ClusterKinds, ManyKeysAcrossSlotsInOneCall) {
  ClusterClient c(cluster_options(GetParam()));
  std::vector<std::string> keys;
  for (int i = 0; i < 1200; ++i) keys.push_back("cpp:cl:many:" + std::to_string(i));
  std::vector<std::string> values;
  for (const auto& k : keys) values.push_back(k + "!");
  std::vector<ClusterClient::KeyValue> items;
  for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], values[i]);
  Waiter w;
  c.set_many(items, 60000, w.queue(), token(1));
  ASSERT_EQ(w.one().kind, Kind::ok);
  std::vector<std::string_view> wanted(keys.begin(), keys.end());
  wanted.push_back("cpp:cl:many:absent");
  c.get_many(wanted, w.queue(), token(2));
  Result r = w.one();
  ASSERT_EQ(r.kind, Kind::values);
  ASSERT_EQ(r.items.size(), wanted.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(r.present[i], 1) << keys[i];
    EXPECT_EQ(r.items[i], keys[i] + "!");
  }
  EXPECT_EQ(r.present.back(), 0);
}

TEST_P(ClusterKinds, ClearPrefixScansEveryPrimaryWithAnEscapedPattern) {
  ClusterClient c(cluster_options(GetParam()));
  Waiter w;
  std::set<std::uint16_t> slots;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "cpp:cl*[x]:" + std::to_string(i);
    slots.insert(key_slot(key));
    c.set(key, "1", 0, w.queue(), token(1));
    c.set("cpp:clYx]:" + std::to_string(i), "decoy", 0, w.queue(), token(1));
  }
  w.collect(400);
  c.clear_prefix("cpp:cl*[x]:", w.queue(), token(1));
  Result r = w.one();
  ASSERT_EQ(r.kind, Kind::integer) << r.value;
  EXPECT_EQ(r.integer, 200);
  c.clear_prefix("cpp:cl*[x]:", w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 0);
  EXPECT_EQ(get(c, "cpp:clYx]:7").value, "decoy");
  c.clear_prefix("cpp:clYx]:", w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 200);
}

TEST_P(ClusterKinds, FlushReachesEveryPrimary) {
  ClusterClient c(cluster_options(GetParam()));
  Waiter w;
  c.flush(w.queue(), token(1));
  ASSERT_EQ(w.one().kind, Kind::integer);
  for (int i = 0; i < 90; ++i) c.set("cpp:cl:fl:" + std::to_string(i), "1", 0, w.queue(), token(1));
  w.collect(90);
  c.flush(w.queue(), token(1));
  Result r = w.one();
  ASSERT_EQ(r.kind, Kind::integer) << r.value;
  EXPECT_EQ(r.integer, 90);
  c.flush_expired(w.queue(), token(1));
  EXPECT_EQ(w.one().integer, 0);
}

TEST_P(ClusterKinds, FollowsAskDuringMigrationAndMovedAfterIt) {
  const auto ports = ports_from_env(std::string(GetParam()) == "CACHETTE_TEST_REDIS_CLUSTER_URL"
                                        ? "CACHETTE_TEST_REDIS_CLUSTER_PORTS"
                                        : "CACHETTE_TEST_VALKEY_CLUSTER_PORTS");
  ClusterClient c(cluster_options(GetParam()));
  const std::string stays = "cpp:{mig}:stays";
  const std::string arrives = "cpp:{mig}:arrives";
  const std::uint16_t slot = key_slot(stays);
  ASSERT_EQ(set(c, stays, "old-home").kind, Kind::ok);

  NodeIds ids = nodes_of(ports[0], slot);
  ASSERT_NE(ids.owner, 0);
  std::uint16_t target = 0;
  for (std::uint16_t p : ports) {
    NodeIds other = nodes_of(p, slot);
    if (p != ids.owner && other.owner != p) {
      auto role = node_client(p);
      if (node_command(*role, {"ROLE"}).items.front() == "master") {
        target = p;
        break;
      }
    }
  }
  ASSERT_NE(target, 0);
  auto source = node_client(ids.owner);
  auto dest = node_client(target);
  const std::string s = std::to_string(slot);
  ASSERT_EQ(
      node_command(*dest, {"CLUSTER", "SETSLOT", s, "IMPORTING", ids.id_by_port[ids.owner]}).kind,
      Kind::value);
  ASSERT_EQ(
      node_command(*source, {"CLUSTER", "SETSLOT", s, "MIGRATING", ids.id_by_port[target]}).kind,
      Kind::value);

  // Mid-migration: a new key goes to the importing node through ASK + ASKING.
  EXPECT_EQ(set(c, arrives, "new-home").kind, Kind::ok);
  EXPECT_EQ(get(c, arrives).value, "new-home");
  EXPECT_EQ(get(c, stays).value, "old-home");

  // Finish the move: MIGRATE the remaining key, then assign the slot everywhere.
  node_command(*source,
               {"MIGRATE", "127.0.0.1", std::to_string(target), "", "0", "5000", "KEYS", stays});
  for (std::uint16_t p : ports) {
    auto n = node_client(p);
    node_command(*n, {"CLUSTER", "SETSLOT", s, "NODE", ids.id_by_port[target]});
  }
  // The client's map still names the old owner: MOVED leads it to the new one.
  EXPECT_EQ(get(c, stays).value, "old-home");
  EXPECT_EQ(get(c, arrives).value, "new-home");

  // Move it back, so that the other tests see the cluster as it was formed.
  ASSERT_EQ(
      node_command(*source, {"CLUSTER", "SETSLOT", s, "IMPORTING", ids.id_by_port[target]}).kind,
      Kind::value);
  ASSERT_EQ(
      node_command(*dest, {"CLUSTER", "SETSLOT", s, "MIGRATING", ids.id_by_port[ids.owner]}).kind,
      Kind::value);
  node_command(*dest, {"MIGRATE", "127.0.0.1", std::to_string(ids.owner), "", "0", "5000", "KEYS",
                       stays, arrives});
  for (std::uint16_t p : ports) {
    auto n = node_client(p);
    node_command(*n, {"CLUSTER", "SETSLOT", s, "NODE", ids.id_by_port[ids.owner]});
  }
  EXPECT_EQ(get(c, arrives).value, "new-home");
}

INSTANTIATE_TEST_SUITE_P(RedisAndValkey, ClusterKinds,
                         ::testing::Values("CACHETTE_TEST_REDIS_CLUSTER_URL",
                                           "CACHETTE_TEST_VALKEY_CLUSTER_URL"));

TEST(ClusterClient, ReadsFromReplicasWhenAsked) {
  ClusterOptions o = cluster_options("CACHETTE_TEST_REDIS_CLUSTER_URL");
  o.read_from_replicas = true;
  ClusterClient c(o);
  ASSERT_EQ(set(c, "cpp:cl:replica", "copied").kind, Kind::ok);
  // Replication is asynchronous: the copy shows up shortly.
  Result r;
  for (int i = 0; i < 100; ++i) {
    r = get(c, "cpp:cl:replica");
    if (r.kind == Kind::value) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(r.value, "copied");
}

TEST(ClusterClient, AStandaloneServerIsOneShard) {
  const std::string url = require_env("CACHETTE_TEST_REDIS_URL");
  ClusterOptions o;
  o.seeds = seeds_from_url(url);
  ClusterClient c(o);
  ASSERT_EQ(refresh(c).kind, Kind::ok);
  EXPECT_TRUE(c.layout().standalone);
  EXPECT_EQ(c.layout().covered_slots, 16384u);
  ASSERT_EQ(set(c, "cpp:cl:standalone", "here").kind, Kind::ok);
  EXPECT_EQ(get(c, "cpp:cl:standalone").value, "here");
}

TEST(ClusterClient, UnreachableSeedsFailWithAConnectionError) {
  ClusterOptions o;
  o.seeds = {{"127.0.0.1", static_cast<std::uint16_t>(
                               std::stoi(require_env("CACHETTE_TEST_CLUSTER_SPARE_PORT")))}};
  o.timeout = std::chrono::milliseconds(300);
  o.connect_timeout = std::chrono::milliseconds(300);
  ClusterClient c(o);
  Result r = get(c, "cpp:cl:nowhere");
  ASSERT_EQ(r.kind, Kind::error);
  EXPECT_EQ(r.error_code, Errc::connection);
  Waiter w;
  c.clear_prefix("x", w.queue(), token(1));
  EXPECT_EQ(w.one().kind, Kind::error);
}

TEST(ClusterClient, CloseFailsWhatIsPendingAndLaterCalls) {
  ClusterClient c(cluster_options("CACHETTE_TEST_REDIS_CLUSTER_URL"));
  Waiter w;
  for (int i = 0; i < 50; ++i) c.get("cpp:cl:close:" + std::to_string(i), w.queue(), token(i + 1));
  c.close();
  for (auto& done : w.collect(50)) {
    EXPECT_TRUE(done.result.kind == Kind::nil || done.result.error_code == Errc::closed);
  }
  c.get("cpp:cl:after", w.queue(), token(1));
  EXPECT_EQ(w.one().error_code, Errc::closed);
}

TEST(SentinelClient, FindsThePrimaryThroughTheSentinels) {
  ClusterClient c(sentinel_options());
  ASSERT_EQ(refresh(c).kind, Kind::ok);
  const auto data_ports = ports_from_env("CACHETTE_TEST_SENTINEL_DATA_PORTS");
  const auto layout = c.layout();
  EXPECT_TRUE(layout.primary == "127.0.0.1:" + std::to_string(data_ports[0]) ||
              layout.primary == "127.0.0.1:" + std::to_string(data_ports[1]));
  ASSERT_EQ(set(c, "cpp:sentinel:k", "v").kind, Kind::ok);
  EXPECT_EQ(get(c, "cpp:sentinel:k").value, "v");
}

TEST(SentinelClient, AnUnknownServiceIsAConnectionError) {
  ClusterOptions o = sentinel_options();
  o.service_name = "no-such-service";
  ClusterClient c(o);
  Result r = get(c, "k");
  ASSERT_EQ(r.kind, Kind::error);
  EXPECT_NE(r.value.find("no-such-service"), std::string::npos);
}

// Several caller threads while the map is re-read over and over: every request completes once,
// with the value its thread wrote (also run under TSan).
TEST(ClusterClient, ThreadedCallersDuringRefreshes) {
  ClusterClient c(cluster_options("CACHETTE_TEST_REDIS_CLUSTER_URL"));
  constexpr int threads = 4;
  constexpr int per_thread = 200;
  std::atomic<bool> stop{false};
  std::thread refresher([&] {
    Waiter w;
    while (!stop.load()) {
      c.refresh(w.queue(), token(1));
      w.one();
    }
  });
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      Waiter w;
      for (int i = 0; i < per_thread; ++i) {
        const std::string key = "cpp:cl:thr:" + std::to_string(t) + ":" + std::to_string(i);
        c.set(key, key, 60000, w.queue(), token(1));
        c.get(key, w.queue(), token(2));
        auto done = w.collect(2);
        for (auto& d : done) {
          if (d.token == token(2) && d.result.value != key) wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  stop.store(true);
  refresher.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(c.layout().refreshes, 1u);
}
