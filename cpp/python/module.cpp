// The pybind11 module gvae._core: declares the module and registers each concern's bindings.
// Keep binding code boring: convert types and forward to libgvae, nothing else.
#include <pybind11/pybind11.h>

#include "gvae/Version.h"

namespace py = pybind11;

void bind_errors(py::module_& m);
void bind_graph(py::module_& m);
void bind_inference(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "gvae native library (libgvae) bindings";
  m.attr("__version__") = gvae::version();
  bind_errors(m);
  bind_graph(m);
  bind_inference(m);
}
