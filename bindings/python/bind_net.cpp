// Network clients for Python: one class over net::Client, whatever the backend. Each method
// returns an asyncio.Future resolved through the bridge (bridge.hpp).

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "bind.hpp"
#include "bridge.hpp"
#include "cachette/memcache/client.hpp"
#include "cachette/net/detail/engine.hpp"
#include "cachette/redis/client.hpp"
#include "cachette/redis/cluster.hpp"
#include "network_client.hpp"

namespace nb = nanobind;

namespace cachette::python {
namespace {

using Queue = std::shared_ptr<net::CompletionQueue>;

std::string_view view_of(nb::handle h) {
  if (PyBytes_Check(h.ptr())) {
    return {PyBytes_AS_STRING(h.ptr()), static_cast<std::size_t>(PyBytes_GET_SIZE(h.ptr()))};
  }
  if (PyUnicode_Check(h.ptr())) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(h.ptr(), &size);
    if (data == nullptr) throw nb::python_error();
    return {data, static_cast<std::size_t>(size)};
  }
  throw nb::type_error("keys, values and command arguments must be str or bytes");
}

using MemcachedServer = std::tuple<std::string, int, std::string, std::string, std::string, bool>;

redis::ClusterClient& cluster_of(NetworkClient& self) {
  auto* cluster = dynamic_cast<redis::ClusterClient*>(&self.client());
  if (cluster == nullptr) throw Error(Errc::invalid_argument, "not a cluster client");
  return *cluster;
}

nb::dict layout_of(redis::ClusterClient& client) {
  const redis::ClusterLayout l = client.layout();
  nb::dict d;
  d["shards"] = l.shards;
  d["covered_slots"] = l.covered_slots;
  d["standalone"] = l.standalone;
  d["primary"] = l.primary;
  d["refreshes"] = l.refreshes;
  return d;
}

nb::object get_many(NetworkClient& self, nb::list keys, Reply reply) {
  std::vector<std::string_view> views;
  views.reserve(nb::len(keys));
  for (nb::handle k : keys) views.push_back(view_of(k));
  return self.call([&](net::Client& c, const Queue& q, void* t) { c.get_many(views, q, t); },
                   reply);
}

}  // namespace

void bind_net(nb::module_& m) {
  bind_bridge(m);

  nb::class_<NetworkClient>(m, "NetworkClient")
      .def(
          "get",
          [](NetworkClient& self, std::string_view key) {
            return self.call([&](net::Client& c, const Queue& q, void* t) { c.get(key, q, t); });
          },
          nb::arg("key"))
      .def(
          "get_text",
          [](NetworkClient& self, std::string_view key) {
            return self.call([&](net::Client& c, const Queue& q, void* t) { c.get(key, q, t); },
                             Reply::text);
          },
          nb::arg("key"), "get(), the value decoded as the vanilla codec does (str).")
      .def(
          "get_with_ttl",
          [](NetworkClient& self, std::string_view key) {
            return self.call(
                [&](net::Client& c, const Queue& q, void* t) { c.get_with_ttl(key, q, t); });
          },
          nb::arg("key"))
      .def(
          "set",
          [](NetworkClient& self, std::string_view key, nb::bytes value, std::int64_t ttl_ms) {
            const std::string_view v(value.c_str(), value.size());
            return self.call(
                [&](net::Client& c, const Queue& q, void* t) { c.set(key, v, ttl_ms, q, t); });
          },
          nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def(
          "add",
          [](NetworkClient& self, std::string_view key, nb::bytes value, std::int64_t ttl_ms) {
            const std::string_view v(value.c_str(), value.size());
            return self.call(
                [&](net::Client& c, const Queue& q, void* t) { c.add(key, v, ttl_ms, q, t); });
          },
          nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def(
          "delete",
          [](NetworkClient& self, std::string_view key) {
            return self.call([&](net::Client& c, const Queue& q, void* t) { c.del(key, q, t); });
          },
          nb::arg("key"))
      .def(
          "delete_if_equal",
          [](NetworkClient& self, std::string_view key, nb::bytes value) {
            const std::string_view v(value.c_str(), value.size());
            return self.call(
                [&](net::Client& c, const Queue& q, void* t) { c.del_if_equal(key, v, q, t); });
          },
          nb::arg("key"), nb::arg("value"))
      .def(
          "get_many",
          [](NetworkClient& self, nb::list keys) { return get_many(self, keys, Reply::bytes); },
          nb::arg("keys"))
      .def(
          "get_many_text",
          [](NetworkClient& self, nb::list keys) { return get_many(self, keys, Reply::text); },
          nb::arg("keys"), "get_many(), the values decoded as the vanilla codec does (str).")
      .def(
          "set_many",
          [](NetworkClient& self, nb::list items, std::int64_t ttl_ms) {
            std::vector<net::Client::KeyValue> pairs;
            pairs.reserve(nb::len(items));
            for (nb::handle item : items) {
              if (!PyTuple_Check(item.ptr()) || PyTuple_GET_SIZE(item.ptr()) != 2) {
                throw nb::type_error("set_many takes a list of (key, value) tuples");
              }
              pairs.emplace_back(view_of(PyTuple_GET_ITEM(item.ptr(), 0)),
                                 view_of(PyTuple_GET_ITEM(item.ptr(), 1)));
            }
            return self.call(
                [&](net::Client& c, const Queue& q, void* t) { c.set_many(pairs, ttl_ms, q, t); });
          },
          nb::arg("items"), nb::arg("ttl_ms"))
      .def(
          "clear_prefix",
          [](NetworkClient& self, std::string_view prefix) {
            return self.call(
                [&](net::Client& c, const Queue& q, void* t) { c.clear_prefix(prefix, q, t); });
          },
          nb::arg("prefix"))
      .def("flush",
           [](NetworkClient& self) {
             return self.call([](net::Client& c, const Queue& q, void* t) { c.flush(q, t); });
           })
      .def("flush_expired",
           [](NetworkClient& self) {
             return self.call(
                 [](net::Client& c, const Queue& q, void* t) { c.flush_expired(q, t); });
           })
      .def("command",
           [](NetworkClient& self, nb::args args) {
             auto* redis = dynamic_cast<redis::Client*>(&self.client());
             if (redis == nullptr) {
               throw Error(Errc::invalid_argument, "command() needs a Redis or Valkey client");
             }
             std::vector<std::string_view> views;
             views.reserve(args.size());
             for (nb::handle a : args) views.push_back(view_of(a));
             return self.call(
                 [&](net::Client&, const Queue& q, void* t) { redis->command(views, q, t); });
           })
      .def("layout", [](NetworkClient& self) { return layout_of(cluster_of(self)); })
      .def(
          "probe",
          [](NetworkClient& self, double wait) -> nb::object {
            // Cluster clients: blocks (GIL released) until the first map is read; no event
            // loop needed. None when nothing answered within `wait`.
            redis::ClusterClient& cluster = cluster_of(self);
            auto queue = std::make_shared<net::CompletionQueue>();
            cluster.refresh(queue, reinterpret_cast<void*>(1));  // a null token is dropped
            std::vector<net::Completion> done;
            const auto give_up = std::chrono::steady_clock::now() + millis(wait);
            {
              nb::gil_scoped_release unlocked;
              while (done.empty() && std::chrono::steady_clock::now() < give_up) {
                queue->wait(std::chrono::duration_cast<std::chrono::milliseconds>(
                    give_up - std::chrono::steady_clock::now()));
                queue->drain(done);
              }
            }
            if (done.empty()) return nb::none();
            const net::Result& r = done.front().result;
            if (r.kind == net::Result::Kind::error) {
              raise_error(static_cast<int>(r.error_code), r.value.c_str());
            }
            return layout_of(cluster);
          },
          nb::arg("wait"))
      .def("close",
           [](NetworkClient& self) {
             if (self.existing() != nullptr) self.existing()->close();
           })
      .def_prop_ro("name", [](NetworkClient& self) { return self.client().name(); })
      .def("stats", [](NetworkClient& self) {
        const net::ClientStats s = self.client().stats();
        nb::dict d;
        d["hits"] = s.hits;
        d["misses"] = s.misses;
        d["requests"] = s.requests;
        d["errors"] = s.errors;
        d["timeouts"] = s.timeouts;
        d["connected"] = s.connected;
        return d;
      });

  m.def(
      "redis_client",
      [](const std::string& kind, const std::string& host, std::uint16_t port,
         const std::string& unix_path, std::int64_t db, const std::string& username,
         const std::string& password, bool tls, const std::string& tls_ca_file,
         const std::string& tls_cert_file, const std::string& tls_key_file, double timeout,
         double connect_timeout, std::size_t pool_size) {
        redis::ClientOptions o;
        o.kind = kind;
        o.endpoint.host = host;
        o.endpoint.port = port;
        o.endpoint.unix_path = unix_path;
        o.endpoint.tls = tls;
        o.endpoint.tls_ca_file = tls_ca_file;
        o.endpoint.tls_cert_file = tls_cert_file;
        o.endpoint.tls_key_file = tls_key_file;
        o.credentials.username = username;
        o.credentials.password = password;
        o.credentials.db = db;
        o.timeout = millis(timeout);
        o.connect_timeout = millis(connect_timeout);
        o.pool_size = pool_size;
        return new NetworkClient(
            [o]() -> std::unique_ptr<net::Client> { return std::make_unique<redis::Client>(o); });
      },
      nb::arg("kind"), nb::arg("host"), nb::arg("port"), nb::arg("unix_path"), nb::arg("db"),
      nb::arg("username"), nb::arg("password"), nb::arg("tls"), nb::arg("tls_ca_file"),
      nb::arg("tls_cert_file"), nb::arg("tls_key_file"), nb::arg("timeout"),
      nb::arg("connect_timeout"), nb::arg("pool_size"), nb::rv_policy::take_ownership,
      "A Redis or Valkey client; connections open in the background at once.");

  m.def(
      "cluster_client",
      [](const std::string& kind, const std::vector<std::tuple<std::string, std::uint16_t>>& seeds,
         const std::string& sentinel_service, std::int64_t db, const std::string& username,
         const std::string& password, bool tls, const std::string& tls_ca_file,
         const std::string& tls_cert_file, const std::string& tls_key_file, double timeout,
         double connect_timeout, std::size_t pool_size, bool read_from_replicas) {
        redis::ClusterOptions o;
        o.kind = kind;
        for (const auto& [host, port] : seeds) o.seeds.push_back({host, port});
        if (!sentinel_service.empty()) {
          o.discovery = redis::ClusterOptions::Discovery::sentinel;
          o.service_name = sentinel_service;
        }
        o.credentials.db = db;
        o.credentials.username = username;
        o.credentials.password = password;
        o.tls = tls;
        o.tls_ca_file = tls_ca_file;
        o.tls_cert_file = tls_cert_file;
        o.tls_key_file = tls_key_file;
        o.timeout = millis(timeout);
        o.connect_timeout = millis(connect_timeout);
        o.pool_size = pool_size;
        o.read_from_replicas = read_from_replicas;
        return new NetworkClient([o]() -> std::unique_ptr<net::Client> {
          return std::make_unique<redis::ClusterClient>(o);
        });
      },
      nb::arg("kind"), nb::arg("seeds"), nb::arg("sentinel_service"), nb::arg("db"),
      nb::arg("username"), nb::arg("password"), nb::arg("tls"), nb::arg("tls_ca_file"),
      nb::arg("tls_cert_file"), nb::arg("tls_key_file"), nb::arg("timeout"),
      nb::arg("connect_timeout"), nb::arg("pool_size"), nb::arg("read_from_replicas"),
      nb::rv_policy::take_ownership,
      "A Redis Cluster / Valkey cluster client over seed nodes, or a Sentinel-following one "
      "when sentinel_service is set; it starts reading the slot map at once.");

  m.def(
      "memcached_client",
      [](const std::vector<MemcachedServer>& servers, double timeout, double connect_timeout,
         std::size_t pool_size, const std::string& tls_ca_file, const std::string& tls_cert_file,
         const std::string& tls_key_file) {
        memcache::ClientOptions o;
        for (const auto& [host, port, unix_path, user, password, tls] : servers) {
          memcache::ServerOptions s;
          s.endpoint.host = host;
          s.endpoint.port = static_cast<std::uint16_t>(port);
          s.endpoint.unix_path = unix_path;
          s.endpoint.tls = tls;
          if (tls) {
            s.endpoint.tls_ca_file = tls_ca_file;
            s.endpoint.tls_cert_file = tls_cert_file;
            s.endpoint.tls_key_file = tls_key_file;
          }
          s.credentials.username = user;
          s.credentials.password = password;
          o.servers.push_back(std::move(s));
        }
        o.timeout = millis(timeout);
        o.connect_timeout = millis(connect_timeout);
        o.pool_size = pool_size;
        return new NetworkClient([o]() -> std::unique_ptr<net::Client> {
          return std::make_unique<memcache::Client>(o);
        });
      },
      nb::arg("servers"), nb::arg("timeout"), nb::arg("connect_timeout"), nb::arg("pool_size"),
      nb::arg("tls_ca_file") = "", nb::arg("tls_cert_file") = "", nb::arg("tls_key_file") = "",
      nb::rv_policy::take_ownership,
      "A memcached client over (host, port, unix_path, user, password, tls) servers.");
}

}  // namespace cachette::python
