#include "gvae/Version.h"

namespace gvae {

const char* version() noexcept { return GVAE_VERSION_STRING; }

}  // namespace gvae
