#pragma once
// Cluster and Sentinel client options from the test servers' environment
// (scripts/services.d/redis-cluster.sh), and a raw per-node client for test set-up.

#include <sstream>
#include <string>
#include <vector>

#include "cachette/redis/client.hpp"
#include "cachette/redis/cluster.hpp"
#include "redis_env.hpp"

namespace cachette::test {

/// "redis://h:p,h:p/0" -> seed list (test URLs only: no credentials).
inline std::vector<redis::NodeAddress> seeds_from_url(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  std::vector<redis::NodeAddress> out;
  std::stringstream in(rest);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto colon = item.rfind(':');
    out.push_back(
        {item.substr(0, colon), static_cast<std::uint16_t>(std::stoi(item.substr(colon + 1)))});
  }
  return out;
}

inline redis::ClusterOptions cluster_options(const char* url_variable) {
  redis::ClusterOptions o;
  o.seeds = seeds_from_url(require_env(url_variable));
  o.timeout = std::chrono::milliseconds(2000);
  return o;
}

inline redis::ClusterOptions sentinel_options() {
  std::string url = require_env("CACHETTE_TEST_SENTINEL_URL");  // redis+sentinel://h:p,.../name/0
  redis::ClusterOptions o;
  o.discovery = redis::ClusterOptions::Discovery::sentinel;
  o.seeds = seeds_from_url(url);
  std::string path = url.substr(url.find("://") + 3);
  path = path.substr(path.find('/') + 1);
  o.service_name = path.substr(0, path.find('/'));
  return o;
}

inline std::vector<std::uint16_t> ports_from_env(const char* variable) {
  std::vector<std::uint16_t> out;
  std::stringstream in(require_env(variable));
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(static_cast<std::uint16_t>(std::stoi(item)));
  return out;
}

/// A plain client to one node, for CLUSTER commands in test set-up.
inline std::unique_ptr<redis::Client> node_client(std::uint16_t port) {
  redis::ClientOptions o;
  o.endpoint.host = "127.0.0.1";
  o.endpoint.port = port;
  return std::make_unique<redis::Client>(o);
}

inline net::Result node_command(redis::Client& c, std::vector<std::string> args) {
  Waiter w;
  std::vector<std::string_view> v(args.begin(), args.end());
  c.command(v, w.queue(), reinterpret_cast<void*>(1));
  return w.one();
}

}  // namespace cachette::test
