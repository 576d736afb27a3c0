#pragma once
// Client options of the Redis integration tests, parsed from the test servers' URLs.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "cachette/redis/client.hpp"
#include "test_support.hpp"

namespace cachette::test {

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

inline void* token(std::uintptr_t n) {
  return reinterpret_cast<void*>(n);
}

}  // namespace cachette::test
