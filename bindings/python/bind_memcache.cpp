// The memcached client for Python. Each call returns an asyncio future resolved through the
// shared bridge (bridge.hpp); the I/O thread never touches a Python object.

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bind.hpp"
#include "bridge.hpp"
#include "cachette/memcache/client.hpp"

namespace nb = nanobind;

namespace cachette::python {
namespace {

using memcache::Client;

class PyClient {
 public:
  PyClient(
      const std::vector<std::tuple<std::string, int, std::string, std::string, std::string, bool>>&
          servers,
      double timeout, double connect_timeout, std::size_t pool_size, const std::string& tls_ca_file,
      const std::string& tls_cert_file, const std::string& tls_key_file) {
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
    o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout * 1000));
    o.connect_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(connect_timeout * 1000));
    o.pool_size = pool_size;
    client_ = std::make_unique<Client>(std::move(o));
  }

  template <class Call>
  nb::object submit(Call&& call) {
    return call_async([&](const std::shared_ptr<net::CompletionQueue>& q, void* t) { call(q, t); });
  }

  nb::object get(std::string_view key) {
    return submit([&](const auto& q, void* t) { client_->get(key, q, t); });
  }
  nb::object get_with_ttl(std::string_view key) {
    return submit([&](const auto& q, void* t) { client_->get_with_ttl(key, q, t); });
  }
  nb::object set(std::string_view key, nb::bytes value, std::int64_t ttl_ms) {
    const std::string_view v(value.c_str(), value.size());
    return submit([&](const auto& q, void* t) { client_->set(key, v, ttl_ms, q, t); });
  }
  nb::object del(std::string_view key) {
    return submit([&](const auto& q, void* t) { client_->del(key, q, t); });
  }
  nb::object dump_prefix(std::size_t server, std::string_view prefix) {
    check_server(server);
    return submit([&](const auto& q, void* t) { client_->dump_prefix(server, prefix, q, t); });
  }
  nb::object dump_count(std::size_t server) {
    check_server(server);
    return submit([&](const auto& q, void* t) { client_->dump_count(server, q, t); });
  }
  nb::object delete_stored(std::size_t server, const std::vector<nb::bytes>& keys) {
    check_server(server);
    std::vector<std::string> stored;
    stored.reserve(keys.size());
    for (const nb::bytes& k : keys) stored.emplace_back(k.c_str(), k.size());
    return submit([&](const auto& q, void* t) { client_->delete_stored(server, stored, q, t); });
  }
  nb::object flush_all(std::size_t server) {
    check_server(server);
    return submit([&](const auto& q, void* t) { client_->flush_all(server, q, t); });
  }

  std::size_t server_count() const { return client_->server_count(); }
  std::string server_name(std::size_t server) const {
    check_server(server);
    return client_->server_name(server);
  }
  std::size_t server_of(std::string_view key) const { return client_->server_of(key); }

  nb::dict stats() const {
    const Client::Stats s = client_->stats();
    nb::dict d;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["requests"] = s.requests;
    d["errors"] = s.errors;
    d["timeouts"] = s.timeouts;
    d["connected"] = s.connected;
    return d;
  }

  void close() { client_->close(); }

 private:
  void check_server(std::size_t server) const {
    if (server >= client_->server_count()) {
      throw Error(Errc::invalid_argument, "no memcached server at index " + std::to_string(server));
    }
  }

  std::unique_ptr<Client> client_;
};

}  // namespace

void bind_memcache(nb::module_& m) {
  nb::class_<PyClient>(m, "MemcachedClient")
      .def(nb::init<const std::vector<
                        std::tuple<std::string, int, std::string, std::string, std::string, bool>>&,
                    double, double, std::size_t, const std::string&, const std::string&,
                    const std::string&>(),
           nb::arg("servers"), nb::arg("timeout"), nb::arg("connect_timeout"), nb::arg("pool_size"),
           nb::arg("tls_ca_file") = "", nb::arg("tls_cert_file") = "", nb::arg("tls_key_file") = "")
      .def("get", &PyClient::get, nb::arg("key"))
      .def("get_with_ttl", &PyClient::get_with_ttl, nb::arg("key"))
      .def("set", &PyClient::set, nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def("delete", &PyClient::del, nb::arg("key"))
      .def("dump_prefix", &PyClient::dump_prefix, nb::arg("server"), nb::arg("prefix"))
      .def("dump_count", &PyClient::dump_count, nb::arg("server"))
      .def("delete_stored", &PyClient::delete_stored, nb::arg("server"), nb::arg("keys"))
      .def("flush_all", &PyClient::flush_all, nb::arg("server"))
      .def_prop_ro("server_count", &PyClient::server_count)
      .def("server_name", &PyClient::server_name, nb::arg("server"))
      .def("server_of", &PyClient::server_of, nb::arg("key"))
      .def("stats", &PyClient::stats)
      .def("close", &PyClient::close);
}

}  // namespace cachette::python
