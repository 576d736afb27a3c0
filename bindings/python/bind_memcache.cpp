// The memcached client for Python. Each call creates an asyncio future on the running loop,
// submits the request to the engine and returns the future; the engine's I/O thread pushes the
// completion to that loop's CompletionQueue, whose eventfd wakes the loop, which resolves every
// waiting future at once. The I/O thread never touches a Python object.
//
// LoopBridge below is a stand-in for the shared asyncio bridge of the net branch: when that
// lands, the calls here switch to it and this section goes.

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
#include "cachette/memcache/client.hpp"

namespace nb = nanobind;

namespace cachette::python {
namespace {

using memcache::Client;
using net::Result;

nb::object exception_for(Errc code, const std::string& message) {
  static nb::object* exceptions = nullptr;
  if (exceptions == nullptr) {
    exceptions = new nb::object(nb::module_::import_("cachette.exceptions"));  // lives forever
  }
  const char* name = "CachetteError";
  switch (code) {
    case Errc::invalid_argument: name = "CachetteValueError"; break;
    case Errc::value_too_large: name = "CachetteValueTooLargeError"; break;
    case Errc::connection:
    case Errc::closed: name = "CachetteConnectionError"; break;
    case Errc::timeout: name = "CachetteTimeoutError"; break;
    case Errc::protocol: name = "CachetteProtocolError"; break;
    case Errc::auth: name = "CachetteAuthError"; break;
    case Errc::storage: name = "CachetteStorageError"; break;
    case Errc::not_available: name = "BackendNotAvailableError"; break;
  }
  return exceptions->attr(name)(message);
}

nb::object bytes_of(const std::string& s) {
  return nb::steal(PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size())));
}

nb::object to_python(Result& r) {
  switch (r.kind) {
    case Result::Kind::nil:
    case Result::Kind::ok: return nb::none();
    case Result::Kind::integer: return nb::int_(r.integer);
    case Result::Kind::value: return bytes_of(r.value);
    case Result::Kind::ttl_value: return nb::make_tuple(r.integer, bytes_of(r.value));
    case Result::Kind::list: {
      nb::list out;
      for (const std::string& item : r.items) out.append(bytes_of(item));
      return out;
    }
    case Result::Kind::error: break;
  }
  return nb::none();
}

/// One event loop's completion channel.
struct LoopBridge {
  std::shared_ptr<net::CompletionQueue> queue = std::make_shared<net::CompletionQueue>();
  std::vector<net::Completion> batch;

  // Runs on the loop thread (add_reader callback) with the GIL.
  void drain() {
    queue->drain(batch);
    for (net::Completion& c : batch) {
      nb::object future = nb::steal(static_cast<PyObject*>(c.token));  // the submit's reference
      if (nb::cast<bool>(future.attr("done")())) continue;             // cancelled by its awaiter
      if (c.result.kind == Result::Kind::error) {
        future.attr("set_exception")(exception_for(c.result.error_code, c.result.value));
      } else {
        future.attr("set_result")(to_python(c.result));
      }
    }
    batch.clear();
  }
};

/// The bridge of the running loop, created and registered with the loop on first use.
struct Channel {
  nb::object future;
  std::shared_ptr<net::CompletionQueue> queue;
};

struct KnownLoop {
  PyObject* loop;  // strong reference: a live entry's address cannot be reused by a new loop
  std::shared_ptr<LoopBridge> bridge;
};

Channel channel() {
  static PyObject* get_running_loop = nullptr;  // lives as long as the interpreter
  if (get_running_loop == nullptr) {
    get_running_loop =
        nb::object(nb::module_::import_("asyncio").attr("get_running_loop")).release().ptr();
  }
  // Raw pointers on purpose: thread_local destructors may run without the GIL.
  thread_local std::vector<KnownLoop> known;
  nb::object loop = nb::steal(PyObject_CallNoArgs(get_running_loop));
  if (!loop.is_valid()) throw nb::python_error();
  if (known.empty() || known.back().loop != loop.ptr()) {
    auto it = std::find_if(known.begin(), known.end(),
                           [&](const KnownLoop& k) { return k.loop == loop.ptr(); });
    if (it == known.end()) {
      // Forget closed loops (tests start many); their readers went with them.
      std::erase_if(known, [](const KnownLoop& k) {
        const bool closed = nb::cast<bool>(nb::handle(k.loop).attr("is_closed")());
        if (closed) Py_DECREF(k.loop);
        return closed;
      });
      auto bridge = std::make_shared<LoopBridge>();
      loop.attr("add_reader")(bridge->queue->fd(), nb::cpp_function([bridge] { bridge->drain(); }));
      known.push_back({loop.inc_ref().ptr(), std::move(bridge)});
    } else {
      std::iter_swap(it, known.end() - 1);  // the loop in use goes last: checked first
    }
  }
  return {loop.attr("create_future")(), known.back().bridge->queue};
}

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
    Channel ch = channel();
    void* token = ch.future.ptr();
    Py_INCREF(ch.future.ptr());  // released by LoopBridge::drain
    try {
      call(ch.queue, token);
    } catch (...) {
      Py_DECREF(ch.future.ptr());
      throw;
    }
    return ch.future;
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
