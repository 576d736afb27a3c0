// MongoDB for Python: the URL helpers used by load_config, and the factory of its engine
// client, served through the one NetworkClient class (network_client.hpp) like every other
// network backend. The client's worker threads never touch a Python object.

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "bind.hpp"
#include "cachette/mongo/client.hpp"
#include "cachette/net/detail/engine.hpp"
#include "network_client.hpp"

namespace nb = nanobind;

namespace cachette::python {

void bind_mongo(nb::module_& m) {
  m.def(
      "mongo_check_url", [](const std::string& url) { return mongo::check_uri(url); },
      nb::arg("url"));
  m.def(
      "mongo_display_hosts", [](const std::string& url) { return mongo::display_hosts(url); },
      nb::arg("url"));

  m.def(
      "mongo_client",
      [](const std::string& url, const std::string& database, const std::string& collection,
         const std::string& tls_ca_file, const std::string& tls_cert_file,
         const std::string& tls_key_file, double timeout, double connect_timeout,
         std::size_t pool_size) {
        mongo::ClientOptions o;
        o.uri = url;
        o.database = database;
        o.collection = collection;
        o.tls_ca_file = tls_ca_file;
        o.tls_cert_file = tls_cert_file;
        o.tls_key_file = tls_key_file;
        o.timeout = millis(timeout);
        o.connect_timeout = millis(connect_timeout);
        o.pool_size = pool_size;
        // MongoDB runs on worker threads of its own, not the I/O thread; the engine is still
        // started so that its generation tells a forked child from its parent.
        (void)net::detail::Engine::instance();
        return new NetworkClient(
            [o]() -> std::unique_ptr<net::Client> { return std::make_unique<mongo::Client>(o); });
      },
      nb::arg("url"), nb::arg("database"), nb::arg("collection"), nb::arg("tls_ca_file") = "",
      nb::arg("tls_cert_file") = "", nb::arg("tls_key_file") = "",
      nb::arg("timeout") = std::chrono::duration<double>(kDefaults.timeout).count(),
      nb::arg("connect_timeout") = std::chrono::duration<double>(kDefaults.connect_timeout).count(),
      nb::arg("pool_size") = kDefaults.pool_size, nb::rv_policy::take_ownership,
      "A MongoDB client on libmongoc: pool_size worker threads, one connection each.");
}

}  // namespace cachette::python
