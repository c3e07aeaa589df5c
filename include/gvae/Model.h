// A loaded gvae model: TorchScript (.pt) or AOTInductor package (.pt2) behind one interface.
//
// Load once, share read-only (the CMSSW GlobalCache pattern):
//   std::shared_ptr<const gvae::Model> model = gvae::Model::load("gvae.pt2", gvae::Device::Auto);
// and give the same pointer to every producer / stream. forward() is const and thread-safe.
#ifndef GVAE_MODEL_H
#define GVAE_MODEL_H

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/Stream.h>

#include "gvae/Contract.h"

namespace gvae {

/// Where a model runs. Auto = the device the model was exported for (the contract's
/// /model/device): an AOTInductor package runs there or nowhere; a TorchScript model exported for
/// cuda runs on CUDA when a GPU is usable and falls back to the CPU otherwise, one exported for cpu
/// stays on the CPU. The CUDA ordinal is ModelOptions::device_index (see gvae/Cuda.h for "cuda:N").
enum class Device { Cpu, Cuda, Auto };

/// "cpu" | "cuda" | "auto" -> Device (gvae::Error on anything else; "cuda:N" -> parseDeviceSpec).
Device parseDevice(std::string_view name);
const char* deviceName(Device device) noexcept;

/// Model file format, detected from the file's magic bytes (both are zip archives) and layout:
/// an AOTInductor package holds `<archive>/data/aotinductor/...`, TorchScript `<archive>/code/...`.
enum class ModelFormat { TorchScript, AOTInductor };
const char* formatName(ModelFormat format) noexcept;

/// Options for Model::load.
struct ModelOptions {
  /// AOTInductor: model-container runners, i.e. how many callers run at once without waiting.
  /// Size it from the caller's concurrency (a framework: its number of streams); each runner holds
  /// its own activation buffers (on the GPU for a CUDA package).
  /// 0 = std::thread::hardware_concurrency() (at least 1, at most 64).
  std::size_t aoti_runners = 0;
  /// CUDA ordinal when the model runs on CUDA: -1 = the calling thread's current CUDA device
  /// (normally 0), N = cuda:N. DeviceUnavailable when N is not a device LibTorch sees; gvae::Error
  /// with Device::Cpu.
  int device_index = -1;
};

/// Check model inputs against `contract` (DESIGN section 7) without running a model:
///   - dtypes and shapes: features f32 [B,N,6] (B >= 1), neighbours i64 [B,N,k], mask bool [B,N],
///     noise f32 [B,C,L];
///   - every neighbour index in [0, N) (padding rows included: the compiled kernels gather them);
///   - every feature and noise value finite.
/// Throws gvae::InvalidInput whose message names `source`, the batch row and the field (and the
/// node/slot or feature). One pass over each tensor: CPU tensors are scanned in place (made
/// contiguous first), tensors on another device are reduced there and only a failing row is copied.
void validateInputs(const Contract& contract, const at::Tensor& features, const at::Tensor& neighbours,
                    const at::Tensor& mask, const at::Tensor& noise, const std::string& source = "model input");

class Model {
 public:
  /// Load `path` on `device`, read and validate its embedded contract.
  /// Throws ModelLoadError (names the path) if the file is missing or cannot be deserialised,
  /// ContractError if the contract is missing/invalid or disagrees with the file's format,
  /// DeviceUnavailable for Device::Cuda without a usable GPU, or for an AOTInductor package
  /// compiled for a device other than the requested one.
  static std::shared_ptr<const Model> load(const std::string& path, Device device = Device::Cpu,
                                           const ModelOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const Contract& contract() const noexcept;
  ModelFormat format() const noexcept;
  c10::Device device() const noexcept;  ///< the resolved device (never Auto)
  const std::string& path() const noexcept;

  /// Raw model forward of a contract v1 model (DESIGN section 7; v2 models throw ContractError:
  /// use run()) under c10::InferenceMode, thread-safe:
  ///   features f32 [B,N,6], neighbours i64 [B,N,k], mask bool [B,N], noise f32 [B,C,L]
  ///   -> reconstruction f32 [B,N,3] (normalised x', y', u'), on this model's device.
  /// The inputs are checked with validateInputs() before either format runs (gvae::InvalidInput
  /// naming the batch row and field), then moved to the model's device.
  /// CUDA: everything runs under a device guard for this model's device and on `stream` (default:
  /// the calling thread's current stream of that device), so callers on different streams do not
  /// serialise; the returned tensor is ready in `stream` order (synchronise `stream`, or copy in
  /// stream order, before reading it from another stream or the host). A stream of another device
  /// throws gvae::InvalidInput. CPU: `stream` is ignored (a CPU stream or none).
  at::Tensor forward(const at::Tensor& features, const at::Tensor& neighbours,
                     const at::Tensor& mask, const at::Tensor& noise,
                     std::optional<c10::Stream> stream = std::nullopt) const;

  /// Contract v2: whether the model has the entry point `name` ("reconstruct", "simulate",
  /// "simulate_counts": optional, older exports lack it).
  bool hasEntryPoint(const std::string& name) const noexcept;

  /// Contract v2: run entry point `name` under c10::InferenceMode, thread-safe. `inputs` in the
  /// contract's order (entry_points.<name>.inputs), on the CPU or this model's device. Throws
  /// ContractError if the contract has no such entry point (v1 models: none), InvalidInput naming
  /// the field for a wrong count/dtype/shape, a batch outside the artifact's range
  /// [batch_min, batch_max] (field 'batch'), a non-finite float value or a neighbour index outside
  /// [0, N) (reconstruct). Returns the outputs (contract order) on this model's device.
  /// CUDA: runs on `stream` under a device guard, like forward().
  std::vector<at::Tensor> run(const std::string& name, const std::vector<at::Tensor>& inputs,
                              std::optional<c10::Stream> stream = std::nullopt) const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gvae

#endif  // GVAE_MODEL_H
