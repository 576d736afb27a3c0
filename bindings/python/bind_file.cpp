// The file store (LMDB). Shares the Store methods bound in bind_store.cpp; only the
// constructor is specific. Opening may fail with CachetteStorageError naming the path.

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <string>

#include "bind.hpp"
#include "cachette/file_store.hpp"

namespace nb = nanobind;

namespace cachette::python {

void bind_file(nb::module_& m) {
  nb::class_<FileStore, Store>(m, "FileStore")
      .def(
          "__init__",
          [](FileStore* self, const std::string& path, std::uint64_t max_size,
             std::uint64_t initial_map_size) {
            FileStoreOptions options;
            options.path = path;
            options.max_size = max_size;
            options.initial_map_size = initial_map_size;
            new (self) FileStore(options);
          },
          nb::arg("path"), nb::arg("max_size") = 0, nb::arg("initial_map_size") = 64ull << 20)
      .def_prop_ro("map_size", &FileStore::map_size);
}

}  // namespace cachette::python
