// Maps cachette::Error to the exception classes defined in cachette/exceptions.py.
// The classes are looked up when the first error is raised, so importing _core alone
// never imports the package (no import cycle).

#include <nanobind/nanobind.h>

#include "bind.hpp"
#include "cachette/error.hpp"

namespace nb = nanobind;

namespace cachette::python {
const char* exception_class_name(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return "CachetteValueError";
    case Errc::value_too_large: return "CachetteValueTooLargeError";
    case Errc::connection: return "CachetteConnectionError";
    case Errc::timeout: return "CachetteTimeoutError";
    case Errc::protocol: return "CachetteProtocolError";
    case Errc::auth: return "CachetteAuthError";
    case Errc::storage: return "CachetteStorageError";
    case Errc::not_available: return "BackendNotAvailableError";
    case Errc::closed: return "CachetteConnectionError";
    case Errc::store_full: return "CachetteStoreFullError";
  }
  return "CachetteError";
}

[[noreturn]] void raise_error(int code, const char* message) {
  nb::object exceptions = nb::module_::import_("cachette.exceptions");
  nb::object cls = exceptions.attr(exception_class_name(static_cast<Errc>(code)));
  PyErr_SetString(cls.ptr(), message);
  throw nb::python_error();
}

void bind_errors(nb::module_& m) {
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const Error& e) {
      nb::object exceptions = nb::module_::import_("cachette.exceptions");
      nb::object cls = exceptions.attr(exception_class_name(e.code()));
      PyErr_SetString(cls.ptr(), e.what());
    }
  });
  m.attr("ERROR_CODES") =
      nb::make_tuple("invalid_argument", "value_too_large", "connection", "timeout", "protocol",
                     "auth", "storage", "not_available", "closed", "store_full");
}

}  // namespace cachette::python
