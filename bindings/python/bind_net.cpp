// Network clients: each method returns an asyncio.Future resolved through the bridge.

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include <chrono>
#include <memory>
#include <vector>

#include "bind.hpp"
#include "bridge.hpp"
#include "cachette/net/detail/engine.hpp"
#include "cachette/redis/client.hpp"

namespace nb = nanobind;

namespace cachette::python {
namespace {

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
  throw nb::type_error("command arguments must be str or bytes");
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

/// The Python-facing client. Rebuilds its engine client in a forked child, whose parent's
/// I/O thread does not exist.
class RedisClient {
 public:
  explicit RedisClient(redis::ClientOptions options) : options_(std::move(options)) { rebuild(); }

  redis::Client& client() {
    if (generation_ != net::detail::Engine::generation()) rebuild();
    return *client_;
  }
  redis::Client* existing() const { return client_.get(); }

 private:
  void rebuild() {
    if (client_ && generation_ != net::detail::Engine::generation()) {
      (void)client_.release();  // bound to the parent's engine: abandoned, never touched
    }
    generation_ = net::detail::Engine::generation();
    client_ = std::make_unique<redis::Client>(options_);
  }
  redis::ClientOptions options_;
  std::unique_ptr<redis::Client> client_;
  std::uint64_t generation_ = 0;
};

using Queue = std::shared_ptr<net::CompletionQueue>;

}  // namespace

void bind_net(nb::module_& m) {
  bind_bridge(m);

  nb::class_<RedisClient>(m, "RedisClient")
      .def(
          "__init__",
          [](RedisClient* self, const std::string& kind, const std::string& host,
             std::uint16_t port, const std::string& unix_path, std::int64_t db,
             const std::string& username, const std::string& password, bool tls,
             const std::string& tls_ca_file, const std::string& tls_cert_file,
             const std::string& tls_key_file, double timeout, double connect_timeout,
             std::size_t pool_size) {
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
            new (self) RedisClient(std::move(o));
          },
          nb::arg("kind"), nb::arg("host"), nb::arg("port"), nb::arg("unix_path"), nb::arg("db"),
          nb::arg("username"), nb::arg("password"), nb::arg("tls"), nb::arg("tls_ca_file"),
          nb::arg("tls_cert_file"), nb::arg("tls_key_file"), nb::arg("timeout"),
          nb::arg("connect_timeout"), nb::arg("pool_size"))
      .def(
          "get",
          [](RedisClient& self, std::string_view key) {
            return call_async([&](const Queue& q, void* t) { self.client().get(key, q, t); });
          },
          nb::arg("key"))
      .def(
          "get_with_ttl",
          [](RedisClient& self, std::string_view key) {
            return call_async(
                [&](const Queue& q, void* t) { self.client().get_with_ttl(key, q, t); });
          },
          nb::arg("key"))
      .def(
          "set",
          [](RedisClient& self, std::string_view key, nb::bytes value, std::int64_t ttl_ms) {
            std::string_view v(value.c_str(), value.size());
            return call_async(
                [&](const Queue& q, void* t) { self.client().set(key, v, ttl_ms, q, t); });
          },
          nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def(
          "delete",
          [](RedisClient& self, std::string_view key) {
            return call_async([&](const Queue& q, void* t) { self.client().del(key, q, t); });
          },
          nb::arg("key"))
      .def(
          "scan_prefix",
          [](RedisClient& self, std::int64_t cursor, std::string_view prefix, std::int64_t count) {
            return call_async([&](const Queue& q, void* t) {
              self.client().scan_prefix(cursor, prefix, count, q, t);
            });
          },
          nb::arg("cursor"), nb::arg("prefix"), nb::arg("count") = 1000)
      .def(
          "unlink",
          [](RedisClient& self, nb::list keys) {
            std::vector<std::string_view> views;
            views.reserve(nb::len(keys));
            for (nb::handle k : keys) views.push_back(view_of(k));
            return call_async([&](const Queue& q, void* t) { self.client().unlink(views, q, t); });
          },
          nb::arg("keys"))
      .def("flush",
           [](RedisClient& self) {
             return call_async([&](const Queue& q, void* t) { self.client().flush(q, t); });
           })
      .def(
          "command",
          [](RedisClient& self, nb::args args) {
            std::vector<std::string_view> views;
            views.reserve(args.size());
            for (nb::handle a : args) views.push_back(view_of(a));
            return call_async([&](const Queue& q, void* t) { self.client().command(views, q, t); });
          })
      .def("close",
           [](RedisClient& self) {
             if (self.existing() != nullptr) self.existing()->close();
           })
      .def_prop_ro("name", [](RedisClient& self) { return self.client().name(); })
      .def("stats", [](RedisClient& self) {
        redis::Client& c = self.client();
        net::PoolStats s = c.stats();
        nb::dict d;
        d["hits"] = c.counters().hits.load();
        d["misses"] = c.counters().misses.load();
        d["requests"] = s.requests;
        d["errors"] = s.errors;
        d["timeouts"] = s.timeouts;
        d["connects"] = s.connects;
        d["connected"] = s.connected;
        return d;
      });
}

}  // namespace cachette::python
