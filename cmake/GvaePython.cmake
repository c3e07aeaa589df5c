# The pybind11 module gvae._core: thin bindings over libgvae (cpp/python/*.cpp).
# libgvae, its headers and CMake package are installed next to it by cmake/GvaeLibrary.cmake
# (component python, under gvae/).
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c "import pybind11; print(pybind11.get_cmake_dir())"
  OUTPUT_VARIABLE GVAE_PYBIND11_DIR OUTPUT_STRIP_TRAILING_WHITESPACE)
find_package(pybind11 CONFIG REQUIRED HINTS "${GVAE_PYBIND11_DIR}")
file(GLOB GVAE_BINDING_SOURCES CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/cpp/python/*.cpp")
pybind11_add_module(_core MODULE ${GVAE_BINDING_SOURCES})
target_link_libraries(_core PRIVATE gvae)
set_target_properties(_core PROPERTIES INSTALL_RPATH "$ORIGIN/lib;${GVAE_TORCH_LIBDIR}")
install(TARGETS _core LIBRARY DESTINATION gvae COMPONENT python)
