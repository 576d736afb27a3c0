// The MongoDB client against SecantusDB (scripts/services.sh), with no Python involved.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cachette/mongo/client.hpp"
#include "test_support.hpp"

namespace cachette::mongo {
namespace {

using cachette::test::require_env;
using cachette::test::Waiter;
using Kind = net::Result::Kind;

void* token(std::uintptr_t n) {
  return reinterpret_cast<void*>(n + 1);
}

class MongoClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClientOptions o;
    o.uri = require_env("CACHETTE_TEST_SECANTUS_URL");
    o.collection = "cpp_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                   "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    client_ = std::make_unique<Client>(o);
    client_->flush(waiter_.queue(), token(0));
    ASSERT_NE(waiter_.one().kind, Kind::error);
  }
  void TearDown() override {
    if (client_) {
      client_->flush(waiter_.queue(), token(0));
      waiter_.one();
    }
  }

  std::unique_ptr<Client> client_;
  Waiter waiter_;
};

TEST_F(MongoClientTest, EveryOperationHasItsDocumentedShape) {
  Client& c = *client_;
  c.set("a", "1", 60'000, waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().kind, Kind::ok);
  c.get("a", waiter_.queue(), token(0));
  net::Result r = waiter_.one();
  EXPECT_EQ(r.kind, Kind::value);
  EXPECT_EQ(r.value, "1");
  c.get_with_ttl("a", waiter_.queue(), token(0));
  r = waiter_.one();
  EXPECT_EQ(r.kind, Kind::ttl_value);
  EXPECT_GT(r.integer, 50'000);
  EXPECT_LE(r.integer, 60'000);
  c.set("forever", "f", 0, waiter_.queue(), token(0));
  waiter_.one();
  c.get_with_ttl("forever", waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, -1);
  c.get("absent", waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().kind, Kind::nil);

  c.add("a", "2", 60'000, waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 0);
  c.add("b", "2", 60'000, waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 1);
  c.del_if_equal("b", "other", waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 0);
  c.del_if_equal("b", "2", waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 1);
  c.del("a", waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 1);
  c.del("a", waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 0);

  const std::vector<net::Client::KeyValue> items = {{"p:1", "x"}, {"p:2", "y"}, {"q:1", "z"}};
  c.set_many(items, 60'000, waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().kind, Kind::ok);
  const std::vector<std::string_view> keys = {"q:1", "none", "p:2"};
  c.get_many(keys, waiter_.queue(), token(0));
  r = waiter_.one();
  ASSERT_EQ(r.kind, Kind::values);
  EXPECT_EQ(r.present, (std::vector<std::uint8_t>{1, 0, 1}));
  EXPECT_EQ(r.items[0], "z");
  EXPECT_EQ(r.items[2], "y");
  c.clear_prefix("p:", waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 2);

  c.set("short", "s", 100, waiter_.queue(), token(0));
  waiter_.one();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  c.get("short", waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().kind, Kind::nil);
  c.flush_expired(waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 1);
  c.flush(waiter_.queue(), token(0));
  EXPECT_EQ(waiter_.one().integer, 2);  // forever, q:1
}

TEST_F(MongoClientTest, BatchedCallsCompleteOnTheirOwnQueuesWithTheirOwnTokens) {
  Client& c = *client_;
  Waiter other;
  constexpr std::uintptr_t kCount = 200;
  for (std::uintptr_t i = 0; i < kCount; ++i) {
    const std::string key = "k" + std::to_string(i);
    c.set(key, key, 60'000, (i % 2 ? other : waiter_).queue(), token(i));
  }
  waiter_.collect(kCount / 2);
  other.collect(kCount / 2);
  for (std::uintptr_t i = 0; i < kCount; ++i) {
    c.get("k" + std::to_string(i), (i % 2 ? other : waiter_).queue(), token(i));
  }
  std::map<std::uintptr_t, std::string> seen;
  for (Waiter* w : {&waiter_, &other}) {
    for (auto& done : w->collect(kCount / 2)) {
      const auto n = reinterpret_cast<std::uintptr_t>(done.token) - 1;
      EXPECT_EQ(done.result.kind, Kind::value);
      seen[n] = done.result.value;
    }
  }
  ASSERT_EQ(seen.size(), kCount);
  for (const auto& [n, value] : seen) EXPECT_EQ(value, "k" + std::to_string(n));
}

TEST(MongoClientUnreachable, FailsWithinTheTimeout) {
  ClientOptions o;
  o.uri = "mongodb://127.0.0.1:" + require_env("CACHETTE_TEST_MONGODB_SPARE_PORT");
  o.timeout = std::chrono::milliseconds(300);
  Client client(o);
  Waiter waiter;
  const auto started = std::chrono::steady_clock::now();
  client.get("k", waiter.queue(), token(0));
  const net::Result r = waiter.one();
  EXPECT_EQ(r.kind, Kind::error);
  EXPECT_TRUE(r.error_code == Errc::connection || r.error_code == Errc::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

}  // namespace
}  // namespace cachette::mongo
