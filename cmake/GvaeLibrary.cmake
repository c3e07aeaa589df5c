# libgvae: every cpp/*.cpp is part of the library; public headers live in include/gvae/.
include(GNUInstallDirs)
file(GLOB GVAE_SOURCES CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/cpp/*.cpp")
add_library(gvae SHARED ${GVAE_SOURCES})
add_library(gvae::gvae ALIAS gvae)
target_include_directories(gvae PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(gvae PUBLIC ${TORCH_LIBRARIES})
if(nlohmann_json_FOUND)
  target_link_libraries(gvae PRIVATE nlohmann_json::nlohmann_json)
endif()
target_compile_options(gvae PRIVATE -Wall -Wextra)
target_compile_definitions(gvae PRIVATE GVAE_VERSION_STRING="${PROJECT_VERSION}")
set_target_properties(gvae PROPERTIES
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  BUILD_RPATH "${GVAE_TORCH_LIBDIR}"
  INSTALL_RPATH "$ORIGIN;${GVAE_TORCH_LIBDIR}")
if(GVAE_SANITIZE)
  target_compile_options(gvae PUBLIC -fsanitize=${GVAE_SANITIZE} -fno-omit-frame-pointer)
  target_link_options(gvae PUBLIC -fsanitize=${GVAE_SANITIZE})
endif()
