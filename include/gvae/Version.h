// libgvae version (the project version from CMake).
#ifndef GVAE_VERSION_H
#define GVAE_VERSION_H

namespace gvae {

/// The libgvae version string, e.g. "0.1.0"; equals the Python package's gvae.__version__.
const char* version() noexcept;

}  // namespace gvae

#endif  // GVAE_VERSION_H
