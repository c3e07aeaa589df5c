// Translate gvae::Error and its subclasses into the gvae.errors Python classes of the same name.
#include <pybind11/pybind11.h>

#include "gvae/Errors.h"

namespace py = pybind11;

void bind_errors(py::module_& m) {
  (void)m;
  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    py::module_ errors = py::module_::import("gvae.errors");
    try {
      std::rethrow_exception(p);
    } catch (const gvae::ModelLoadError& e) {
      py::set_error(errors.attr("ModelLoadError"), e.what());
    } catch (const gvae::ContractError& e) {
      py::set_error(errors.attr("ContractError"), e.what());
    } catch (const gvae::InvalidInput& e) {
      py::set_error(errors.attr("InvalidInput"), e.what());
    } catch (const gvae::DeviceUnavailable& e) {
      py::set_error(errors.attr("DeviceUnavailable"), e.what());
    } catch (const gvae::DataError& e) {
      py::set_error(errors.attr("DataError"), e.what());
    } catch (const gvae::Error& e) {
      py::set_error(errors.attr("GvaeError"), e.what());
    }
  });
}
