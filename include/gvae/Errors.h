// gvae error hierarchy: everything libgvae throws derives from gvae::Error.
// The Python bindings translate each type into the gvae.errors class of the same name.
#ifndef GVAE_ERRORS_H
#define GVAE_ERRORS_H

#include <stdexcept>
#include <string>

namespace gvae {

/// Base class of every exception thrown by libgvae.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A model file cannot be read or deserialised (message names the path).
class ModelLoadError : public Error {
public:
  using Error::Error;
};

/// The model contract is missing, malformed, of an unknown version or inconsistent.
class ContractError : public Error {
public:
  using Error::Error;
};

/// Input hits that cannot be processed (NaN/Inf, negative energy, index outside the window,
/// unknown channel, too many hits). The message names the jet and the field.
class InvalidInput : public Error {
public:
  using Error::Error;
};

/// The requested device is not available (e.g. "cuda" without a GPU or without CUDA LibTorch).
class DeviceUnavailable : public Error {
public:
  using Error::Error;
};

/// A data file (e.g. a .gvh hits file) cannot be read: names file, row and field.
class DataError : public Error {
public:
  using Error::Error;
};

}  // namespace gvae

#endif  // GVAE_ERRORS_H
