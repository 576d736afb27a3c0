#pragma once
// One bind_<area> function per area; module.cpp calls them in order.

#include <nanobind/nanobind.h>

#include <string_view>

#include "cachette/error.hpp"

namespace cachette::python {

void bind_errors(nanobind::module_& m);
void bind_options(nanobind::module_& m);
void bind_store(nanobind::module_& m);
void bind_file(nanobind::module_& m);
void bind_net(nanobind::module_& m);
void bind_mongo(nanobind::module_& m);

/// Name of the class in cachette.exceptions that stands for an engine error code.
const char* exception_class_name(Errc code);

/// Throws the Python exception that matches a cachette::Error (used by the async bridge
/// too, where errors arrive as values rather than C++ exceptions).
[[noreturn]] void raise_error(int code, const char* message);

/// A new str from stored UTF-8 bytes, as the vanilla codec decodes them (bytes that are not
/// UTF-8 become surrogate escapes), or nullptr with an exception set (text.cpp).
PyObject* text_of(std::string_view value);

}  // namespace cachette::python
