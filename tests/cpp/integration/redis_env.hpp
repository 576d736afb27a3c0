#pragma once
// Server addresses for the Redis integration tests, from the environment that
// scripts/services.sh writes. A missing variable fails the test loudly: never a skip.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "cachette/net/completion.hpp"
#include "cachette/redis/client.hpp"

namespace cachette::test {

inline std::string require_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    ADD_FAILURE() << name << " is not set: run the tests through scripts/with-services.sh";
    throw std::runtime_error(std::string(name) + " is not set");
  }
  return value;
}

/// Options from redis[s]://[user:password@]host:port/db or unix:///path?db=N (test URLs only).
inline redis::ClientOptions options_from_url(const std::string& url) {
  redis::ClientOptions o;
  o.timeout = std::chrono::milliseconds(2000);
  o.connect_timeout = std::chrono::milliseconds(2000);
  std::string rest;
  if (url.rfind("unix://", 0) == 0) {
    rest = url.substr(7);
    const auto q = rest.find("?db=");
    o.endpoint.unix_path = rest.substr(0, q);
    if (q != std::string::npos) o.credentials.db = std::stoll(rest.substr(q + 4));
    return o;
  }
  const auto scheme_end = url.find("://");
  const std::string scheme = url.substr(0, scheme_end);
  o.endpoint.tls = scheme == "rediss" || scheme == "valkeys";
  rest = url.substr(scheme_end + 3);
  const auto at = rest.rfind('@');
  if (at != std::string::npos) {
    const std::string userinfo = rest.substr(0, at);
    const auto colon = userinfo.find(':');
    o.credentials.username = userinfo.substr(0, colon);
    o.credentials.password = userinfo.substr(colon + 1);
    rest = rest.substr(at + 1);
  }
  const auto slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos && slash + 1 < rest.size()) {
    o.credentials.db = std::stoll(rest.substr(slash + 1));
  }
  const auto colon = hostport.rfind(':');
  o.endpoint.host = hostport.substr(0, colon);
  o.endpoint.port = static_cast<std::uint16_t>(std::stoi(hostport.substr(colon + 1)));
  return o;
}

/// Waits for the completion of one call; tokens are small integers.
class Waiter {
 public:
  Waiter() : queue_(std::make_shared<net::CompletionQueue>()) {}
  const std::shared_ptr<net::CompletionQueue>& queue() const { return queue_; }

  /// Collects completions until `count` arrived (or 30 s passed, which fails the test).
  std::vector<net::Completion> collect(std::size_t count) {
    std::vector<net::Completion> all;
    std::vector<net::Completion> batch;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (all.size() < count && std::chrono::steady_clock::now() < give_up) {
      queue_->wait(std::chrono::milliseconds(100));
      queue_->drain(batch);
      for (auto& c : batch) all.push_back(std::move(c));
    }
    EXPECT_EQ(all.size(), count) << "completions missing";
    return all;
  }
  net::Result one() {
    auto all = collect(1);
    return all.empty() ? net::Result{} : std::move(all[0].result);
  }

 private:
  std::shared_ptr<net::CompletionQueue> queue_;
};

inline void* token(std::uintptr_t n) {
  return reinterpret_cast<void*>(n);
}

}  // namespace cachette::test
