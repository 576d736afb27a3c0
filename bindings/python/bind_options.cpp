// The defaults of include/cachette/options.hpp as module constants (_core.DEFAULT_*), so that
// the Python configuration and backends read them instead of writing them again.

#include <chrono>

#include "bind.hpp"
#include "cachette/options.hpp"

namespace nb = nanobind;

namespace cachette::python {

namespace {

double seconds(std::chrono::milliseconds ms) {
  return std::chrono::duration<double>(ms).count();
}

}  // namespace

void bind_options(nb::module_& m) {
  m.attr("DEFAULT_TTL") = kDefaults.ttl_seconds;
  m.attr("DEFAULT_MAX_MEMORY") = kDefaults.max_memory;
  m.attr("DEFAULT_MEMORY_SHARDS") = kDefaults.memory_shards;
  m.attr("DEFAULT_TIMEOUT") = seconds(kDefaults.timeout);
  m.attr("DEFAULT_CONNECT_TIMEOUT") = seconds(kDefaults.connect_timeout);
  m.attr("DEFAULT_POOL_SIZE") = kDefaults.pool_size;
  m.attr("DEFAULT_LOCK_TIMEOUT") = seconds(kDefaults.lock_timeout);
  m.attr("DEFAULT_FILE_MAX_SIZE") = kDefaults.file_max_size;
  m.attr("DEFAULT_FILE_INITIAL_MAP_SIZE") = kDefaults.file_initial_map_size;
  m.attr("DEFAULT_DATABASE_NAME") =
      nb::str(kDefaults.database_name.data(), kDefaults.database_name.size());
  m.attr("DEFAULT_TABLE_NAME") = nb::str(kDefaults.table_name.data(), kDefaults.table_name.size());
}

}  // namespace cachette::python
