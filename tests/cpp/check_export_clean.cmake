# ctest gvae_export_clean (sanitized builds): `cmake --install` the library into PREFIX and fail if
# the exported gvae::gvae target (gvaeTargets*.cmake) mentions a sanitizer flag.
#   cmake -DBUILD_DIR=<build> -DPREFIX=<dir> -P check_export_clean.cmake
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} failed (${rc})")
endif()
file(GLOB_RECURSE targets "${PREFIX}/*/gvaeTargets*.cmake")
if(NOT targets)
  message(FATAL_ERROR "no gvaeTargets*.cmake under ${PREFIX}")
endif()
foreach(f ${targets})
  file(READ "${f}" text)
  if(text MATCHES "sanitize")
    message(FATAL_ERROR "${f} carries sanitizer flags to consumers")
  endif()
  message(STATUS "${f}: no sanitizer flags")
endforeach()
