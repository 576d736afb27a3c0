#include "bind.hpp"

NB_MODULE(_core, m) {
  m.doc() = "The C++ engine of cachette (private; use the cachette package).";
  cachette::python::bind_errors(m);
  cachette::python::bind_options(m);
  cachette::python::bind_store(m);
  cachette::python::bind_file(m);
  cachette::python::bind_net(m);
  cachette::python::bind_mongo(m);
}
