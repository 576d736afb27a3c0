// The file store (LMDB). Shares the Store methods bound in bind_store.cpp; the constructor
// and the two lock primitives (add, erase_if_equal) are specific. Opening may fail with
// CachetteStorageError naming the path.

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "bind.hpp"
#include "cachette/error.hpp"
#include "cachette/file_store.hpp"

namespace nb = nanobind;

namespace cachette::python {

void bind_file(nb::module_& m) {
  nb::class_<FileStore, Store>(m, "FileStore")
      .def(
          "__init__",
          [](FileStore* self, const std::string& path, std::uint64_t max_size,
             std::uint64_t initial_map_size, bool strict) {
            if (path.find('\0') != std::string::npos) {
              throw Error(Errc::invalid_argument, "file store: the path contains a NUL character");
            }
            FileStoreOptions options;
            options.path = path;
            options.max_size = max_size;
            options.initial_map_size = initial_map_size;
            options.strict = strict;
            new (self) FileStore(options);
          },
          nb::arg("path"), nb::arg("max_size") = kDefaults.file_max_size,
          nb::arg("initial_map_size") = kDefaults.file_initial_map_size, nb::arg("strict") = false)
      .def(
          "add",
          [](FileStore& s, std::string_view key, const nb::bytes& value, std::int64_t ttl_ms) {
            return s.add(key, std::string_view(value.c_str(), value.size()), ttl_ms);
          },
          nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def(
          "erase_if_equal",
          [](FileStore& s, std::string_view key, const nb::bytes& value) {
            return s.erase_if_equal(key, std::string_view(value.c_str(), value.size()));
          },
          nb::arg("key"), nb::arg("value"))
      .def_prop_ro("map_size", &FileStore::map_size)
      .def_prop_ro("recovery_note", &FileStore::recovery_note);
}

}  // namespace cachette::python
