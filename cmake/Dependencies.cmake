# System libraries come from Debian packages (scripts/bootstrap.sh installs them).
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)

find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
find_path(LMDB_INCLUDE_DIR lmdb.h REQUIRED)
find_library(LMDB_LIBRARY lmdb REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(MONGOC REQUIRED IMPORTED_TARGET libmongoc-1.0)

add_library(cachette_deps INTERFACE)
target_include_directories(cachette_deps SYSTEM INTERFACE ${ASIO_INCLUDE_DIR} ${LMDB_INCLUDE_DIR}
                                                           ${MONGOC_INCLUDE_DIRS})
# ASIO_DISABLE_STD_ALIGNED_ALLOC: asio 1.22 decides per translation unit whether to use
# aligned_alloc, so memory allocated in one file could be freed with operator delete in another.
target_compile_definitions(cachette_deps INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED
                                                   ASIO_DISABLE_STD_ALIGNED_ALLOC)
target_link_libraries(cachette_deps INTERFACE Threads::Threads OpenSSL::SSL OpenSSL::Crypto ${LMDB_LIBRARY}
                                                PkgConfig::MONGOC)
