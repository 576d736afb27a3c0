#pragma once
// What every integration test needs: server addresses from the environment that
// scripts/services.sh writes (a missing variable fails the test loudly, never a skip), and a
// blocking waiter on a CompletionQueue.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cachette/net/completion.hpp"

namespace cachette::test {

inline std::string require_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    ADD_FAILURE() << name << " is not set: run the tests through scripts/with-services.sh";
    throw std::runtime_error(std::string(name) + " is not set");
  }
  return value;
}

/// Collects the completions pushed to one queue, blocking (60 s at most, which fails the test).
class Waiter {
 public:
  const std::shared_ptr<net::CompletionQueue>& queue() const { return queue_; }

  std::vector<net::Completion> collect(std::size_t count) {
    std::vector<net::Completion> all;
    std::vector<net::Completion> batch;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (all.size() < count && std::chrono::steady_clock::now() < give_up) {
      queue_->wait(std::chrono::milliseconds(100));
      queue_->drain(batch);
      for (auto& c : batch) all.push_back(std::move(c));
    }
    EXPECT_EQ(all.size(), count) << "completions missing after 60 s";
    return all;
  }

  net::Result one() {
    auto all = collect(1);
    return all.empty() ? net::Result{} : std::move(all.front().result);
  }

 private:
  std::shared_ptr<net::CompletionQueue> queue_ = std::make_shared<net::CompletionQueue>();
};

}  // namespace cachette::test
