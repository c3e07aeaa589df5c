// SHA-256 (FIPS 180-4) of a byte string, as lowercase hex. Internal to libgvae: the contract's
// training.config_sha256 is checked with it (python: hashlib.sha256). Kept in-tree so that libgvae
// and its wheel need no crypto library; tests compare it with hashlib on the FIPS vectors.
#ifndef GVAE_CPP_SHA256_H
#define GVAE_CPP_SHA256_H

#include <string>
#include <string_view>

namespace gvae::detail {

std::string sha256Hex(std::string_view data);

}  // namespace gvae::detail

#endif  // GVAE_CPP_SHA256_H
