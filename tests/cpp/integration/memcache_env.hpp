#pragma once
// Helpers of the memcached integration tests: server addresses from the environment written by
// scripts/services.sh (a missing variable fails the test, it never skips), a blocking waiter on
// a CompletionQueue, and a private memcached the test may kill and restart.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "cachette/memcache/client.hpp"
#include "test_support.hpp"

namespace cachette::memcache::test {

using cachette::test::require_env;
using cachette::test::Waiter;

/// One server from "host:port", "unix:/path" or "memcached[s]://user:password@host:port".
inline ServerOptions server_from(std::string text) {
  ServerOptions s;
  if (text.rfind("unix:", 0) == 0) {
    s.endpoint.unix_path = text.substr(5);
    return s;
  }
  const auto scheme = text.find("://");
  if (scheme != std::string::npos) {
    s.endpoint.tls = text.compare(0, scheme, "memcacheds") == 0;
    text = text.substr(scheme + 3);
    const auto at = text.rfind('@');
    if (at != std::string::npos) {
      const std::string userinfo = text.substr(0, at);
      const auto colon = userinfo.find(':');
      s.credentials.username = userinfo.substr(0, colon);
      s.credentials.password = userinfo.substr(colon + 1);
      text = text.substr(at + 1);
    }
  }
  const auto colon = text.rfind(':');
  s.endpoint.host = text.substr(0, colon);
  s.endpoint.port = static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
  return s;
}

inline ClientOptions options_from(const std::string& list) {
  ClientOptions o;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    o.servers.push_back(server_from(list.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  o.timeout = std::chrono::milliseconds(2000);
  o.connect_timeout = std::chrono::milliseconds(1000);
  return o;
}

inline void* token(std::uintptr_t n) {
  return reinterpret_cast<void*>(n + 1);
}

inline std::uintptr_t token_number(void* t) {
  return reinterpret_cast<std::uintptr_t>(t) - 1;
}

/// A memcached of the test's own on a spare port, killed and restarted at will.
class PrivateServer {
 public:
  explicit PrivateServer(std::uint16_t port, std::string extra = "")
      : port_(port), extra_(std::move(extra)) {
    pidfile_ = "/tmp/cachette-mc-test-" + std::to_string(port) + ".pid";
    start();
  }
  ~PrivateServer() { stop(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void start() {
    const std::string cmd = require_env("CACHETTE_TEST_MEMCACHED_SERVER") +
                            " -d -l 127.0.0.1 -U 0 -m 32 -p " + std::to_string(port_) + " -P " +
                            pidfile_ + " " + extra_ + (geteuid() == 0 ? " -u root" : "");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    for (int i = 0; i < 200 && pid() <= 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GT(pid(), 0) << "memcached did not write " << pidfile_;
  }

  void stop() {
    const long p = pid();
    if (p > 0) {
      ::kill(static_cast<pid_t>(p), SIGKILL);
      std::remove(pidfile_.c_str());
      // Wait until the port is free again so a restart can bind it.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

 private:
  long pid() const {
    std::ifstream in(pidfile_);
    long p = 0;
    in >> p;
    return p;
  }

  std::uint16_t port_;
  std::string extra_;
  std::string pidfile_;
};

}  // namespace cachette::memcache::test
