#pragma once
/// Typed errors of the engine. Each code maps to one Python exception class in
/// cachette.exceptions (see bindings/python/bind_errors.cpp).

#include <stdexcept>
#include <string>

namespace cachette {

enum class Errc {
  invalid_argument,  ///< bad key, value or option passed by the caller
  value_too_large,   ///< value exceeds the backend's size limit; nothing was written
  connection,        ///< could not reach the server, or the connection dropped
  timeout,           ///< no reply within the configured timeout
  protocol,          ///< the server sent something we cannot parse, or an error reply
  auth,              ///< the server refused our credentials
  storage,           ///< a local store (file) failed: I/O error, corrupt or foreign file
  not_available,     ///< the backend is not built into this version
  closed,            ///< the engine or backend was shut down
  store_full,        ///< the server or store refused a write because it is full (memory, disk)
};

/// Human-readable name of an error code ("timeout", "connection", ...).
const char* to_string(Errc code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

}  // namespace cachette
