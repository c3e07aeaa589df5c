# libgvae: every cpp/*.cpp is part of the library; public headers live in include/gvae/.
#
# Installed two ways, both relocatable and both with the exported target gvae::gvae:
#   * standalone (`cmake --install build/cpp-g --prefix P`): P/lib/libgvae.so, P/include/gvae/,
#     P/lib/cmake/gvae/{gvaeConfig,gvaeConfigVersion,gvaeTargets}.cmake
#   * component `python` (scikit-build-core): the same tree rooted at site-packages/gvae/, whose
#     path `gvae.native.cmake_prefix_path()` returns.
# Consumers: find_package(gvae REQUIRED) + target_link_libraries(app PRIVATE gvae::gvae); the config
# finds Torch itself (see cmake/gvaeConfig.cmake.in).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

file(GLOB GVAE_SOURCES CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/cpp/*.cpp")
file(GLOB GVAE_HEADERS CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/include/gvae/*.h")
add_library(gvae SHARED ${GVAE_SOURCES})
add_library(gvae::gvae ALIAS gvae)
target_include_directories(gvae PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
# Only LibTorch's imported targets travel into the exported interface (no absolute paths):
# `torch` carries torch_cpu/torch_cuda and c10.
target_link_libraries(gvae PUBLIC torch c10)
target_compile_features(gvae PUBLIC cxx_std_17)
target_include_directories(gvae SYSTEM PRIVATE "${GVAE_NLOHMANN_INCLUDE_DIR}")
target_compile_options(gvae PRIVATE -Wall -Wextra)
target_compile_definitions(gvae PRIVATE GVAE_VERSION_STRING="${PROJECT_VERSION}")
set_target_properties(gvae PROPERTIES
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  EXPORT_NAME gvae
  BUILD_RPATH "${GVAE_TORCH_LIBDIR}"
  INSTALL_RPATH "$ORIGIN;${GVAE_TORCH_LIBDIR}")
# CUDA LibTorch: consumers get GVAE_WITH_CUDA (gvae/Cuda.h then offers streamFromCuda(cudaStream_t)).
# libgvae's own sources use only c10's device-generic API and compile the same either way.
if(CAFFE2_USE_CUDA OR TORCH_CUDA_LIBRARIES)
  set(GVAE_WITH_CUDA ON)
  target_compile_definitions(gvae PUBLIC GVAE_WITH_CUDA)
else()
  set(GVAE_WITH_CUDA OFF)
endif()
message(STATUS "gvae: LibTorch ${Torch_VERSION}, CUDA ${GVAE_WITH_CUDA}")

# gvae_sanitize(<target>): GVAE_SANITIZE (e.g. 'address,undefined' or 'thread') on one of gvae's
# own targets, PRIVATE: the flags never enter the exported gvae::gvae interface (checked below and
# by the ctest gvae_export_clean). Every sanitized executable must itself link with the flags.
function(gvae_sanitize target)
  if(GVAE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${GVAE_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${GVAE_SANITIZE})
  endif()
endfunction()
gvae_sanitize(gvae)
foreach(_prop INTERFACE_COMPILE_OPTIONS INTERFACE_LINK_OPTIONS)
  get_target_property(_iface gvae ${_prop})
  if(_iface MATCHES "sanitize")
    message(FATAL_ERROR "gvae: sanitizer flags in ${_prop} of the exported target: ${_iface}")
  endif()
endforeach()

# gvae_install(<component> <prefix-relative root> <export set>): library, headers, CMake package.
function(gvae_install component root export)
  if(root STREQUAL "")
    set(libdir "${CMAKE_INSTALL_LIBDIR}")
    set(incdir "${CMAKE_INSTALL_INCLUDEDIR}")
  else()
    set(libdir "${root}/lib")
    set(incdir "${root}/include")
  endif()
  set(cmakedir "${libdir}/cmake/gvae")
  install(TARGETS gvae EXPORT ${export}
    LIBRARY DESTINATION "${libdir}" COMPONENT ${component}
    INCLUDES DESTINATION "${incdir}")
  install(FILES ${GVAE_HEADERS} DESTINATION "${incdir}/gvae" COMPONENT ${component})
  install(EXPORT ${export} NAMESPACE gvae:: FILE gvaeTargets.cmake
    DESTINATION "${cmakedir}" COMPONENT ${component})
  set(GVAE_TORCH_VERSION "${Torch_VERSION}")
  configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/gvaeConfig.cmake.in"
    "${PROJECT_BINARY_DIR}/${export}/gvaeConfig.cmake"
    INSTALL_DESTINATION "${cmakedir}")
  write_basic_package_version_file("${PROJECT_BINARY_DIR}/${export}/gvaeConfigVersion.cmake"
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES "${PROJECT_BINARY_DIR}/${export}/gvaeConfig.cmake"
                "${PROJECT_BINARY_DIR}/${export}/gvaeConfigVersion.cmake"
    DESTINATION "${cmakedir}" COMPONENT ${component})
endfunction()

if(GVAE_BUILD_PYTHON)
  # Inside the wheel / editable install: site-packages/gvae/{lib,include,lib/cmake/gvae}.
  gvae_install(python "gvae" gvaePythonTargets)
else()
  gvae_install(library "" gvaeTargets)
endif()
