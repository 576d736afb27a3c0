#include "cachette/error.hpp"

namespace cachette {

const char* to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::value_too_large: return "value_too_large";
    case Errc::connection: return "connection";
    case Errc::timeout: return "timeout";
    case Errc::protocol: return "protocol";
    case Errc::auth: return "auth";
    case Errc::storage: return "storage";
    case Errc::not_available: return "not_available";
    case Errc::closed: return "closed";
    case Errc::store_full: return "store_full";
  }
  return "unknown";
}

}  // namespace cachette
