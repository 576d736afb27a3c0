// Synchronous local stores. Calls hold the GIL: each operation takes microseconds, and
// values are copied straight from the store into a Python bytes object.

#include <nanobind/nanobind.h>
#include <nanobind/stl/string_view.h>

#include <cstdint>

#include "bind.hpp"
#include "cachette/memory_store.hpp"
#include "cachette/store.hpp"

namespace nb = nanobind;

namespace cachette::python {
namespace {

std::string_view view(const nb::bytes& b) {
  return {b.c_str(), b.size()};
}

struct GetResult {
  PyObject* value = nullptr;
};

struct GetTtlResult {
  PyObject* value = nullptr;
  std::int64_t ttl_ms = 0;
  std::int64_t age_ms = 0;
};

nb::object store_get(Store& store, std::string_view key) {
  GetResult out;
  store.visit(
      key,
      [](void* context, std::string_view value, std::int64_t, std::int64_t) {
        static_cast<GetResult*>(context)->value =
            PyBytes_FromStringAndSize(value.data(), static_cast<Py_ssize_t>(value.size()));
      },
      &out);
  if (out.value == nullptr) {
    if (PyErr_Occurred()) throw nb::python_error();
    return nb::none();
  }
  return nb::steal(out.value);
}

/// The value decoded as UTF-8 text (bytes that are not UTF-8 map to lone surrogates, as
/// Python's "surrogateescape" does), or None. Saves the vanilla codec a bytes object and a
/// Python-level decode on every hit.
nb::object store_get_text(Store& store, std::string_view key) {
  GetResult out;
  store.visit(
      key,
      [](void* context, std::string_view value, std::int64_t, std::int64_t) {
        static_cast<GetResult*>(context)->value = PyUnicode_DecodeUTF8(
            value.data(), static_cast<Py_ssize_t>(value.size()), "surrogateescape");
      },
      &out);
  if (out.value == nullptr) {
    if (PyErr_Occurred()) throw nb::python_error();
    return nb::none();
  }
  return nb::steal(out.value);
}

/// Stores a str as UTF-8 without an intermediate bytes object.
void store_put_text(Store& store, std::string_view key, nb::handle value, std::int64_t ttl_ms) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
  if (data == nullptr) throw nb::python_error();  // not a str, or lone surrogates
  store.put(key, std::string_view(data, static_cast<std::size_t>(size)), ttl_ms);
}

/// (ttl_ms, age_ms, value) or None; ttl_ms is -1 for entries that never expire.
nb::object store_get_with_ttl(Store& store, std::string_view key) {
  GetTtlResult out;
  store.visit(
      key,
      [](void* context, std::string_view value, std::int64_t ttl_ms, std::int64_t age_ms) {
        auto* r = static_cast<GetTtlResult*>(context);
        r->value = PyBytes_FromStringAndSize(value.data(), static_cast<Py_ssize_t>(value.size()));
        r->ttl_ms = ttl_ms;
        r->age_ms = age_ms;
      },
      &out);
  if (out.value == nullptr) {
    if (PyErr_Occurred()) throw nb::python_error();
    return nb::none();
  }
  nb::object value = nb::steal(out.value);
  return nb::make_tuple(out.ttl_ms, out.age_ms, value);
}

nb::dict store_stats(const Store& store) {
  StoreStats s = store.stats();
  nb::dict d;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["evictions"] = s.evictions;
  d["expirations"] = s.expirations;
  d["entries"] = s.entries;
  d["bytes"] = s.bytes;
  d["capacity"] = s.capacity;
  return d;
}

}  // namespace

void bind_store(nb::module_& m) {
  nb::class_<Store>(m, "Store")
      .def("get", &store_get, nb::arg("key"))
      .def("get_with_ttl", &store_get_with_ttl, nb::arg("key"))
      .def(
          "put",
          [](Store& s, std::string_view key, const nb::bytes& value, std::int64_t ttl_ms) {
            s.put(key, view(value), ttl_ms);
          },
          nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def("get_text", &store_get_text, nb::arg("key"))
      .def("put_text", &store_put_text, nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def("erase", &Store::erase, nb::arg("key"))
      .def("erase_prefix", &Store::erase_prefix, nb::arg("prefix"))
      .def("flush", &Store::flush)
      .def("flush_expired", &Store::flush_expired)
      .def("stats", &store_stats);

  nb::class_<MemoryStore, Store>(m, "MemoryStore")
      .def(
          "__init__",
          [](MemoryStore* self, std::uint64_t max_memory, std::uint32_t shards) {
            new (self) MemoryStore(MemoryStoreOptions{max_memory, shards});
          },
          nb::arg("max_memory") = 256ull << 20, nb::arg("shards") = 16);
}

}  // namespace cachette::python
