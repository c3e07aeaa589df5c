// Devices and streams for libgvae: `cuda:N` selection and the CUDA stream a forward runs on.
//
// libgvae itself is built only against LibTorch's device-generic API (c10::Device, c10::Stream,
// c10::DeviceGuard, c10::StreamGuard): the same library source compiles with a CPU-only LibTorch
// and, with a CUDA LibTorch, every CUDA call is dispatched through c10's registered CUDA guard
// implementation (the one c10::cuda::CUDAGuard uses). A framework hands its stream in as a
// c10::Stream:
//
//   auto model = gvae::Model::load("model.pt2", gvae::Device::Cuda, options);   // options.device_index = 1
//   c10::Stream s = gvae::newStream(model->device());        // or the framework's own, see below
//   auto hits = producer.produce(jets, &rng, s);            // runs on `s`, synchronises only `s`
//
// A framework that owns raw cudaStream_t handles (CMSSW's cms::cuda / alpaka queues) wraps them
// with gvae::streamFromCuda() below, available when the consumer is compiled against a CUDA
// LibTorch (the exported gvae::gvae target defines GVAE_WITH_CUDA then).
#ifndef GVAE_CUDA_H
#define GVAE_CUDA_H

#include <string_view>

#include <c10/core/Device.h>
#include <c10/core/Stream.h>

#include "gvae/Model.h"

#if defined(GVAE_WITH_CUDA)
#include <c10/cuda/CUDAStream.h>
#endif

namespace gvae {

/// A device with an optional CUDA ordinal: "cpu", "auto", "cuda" (index -1: the calling thread's
/// current CUDA device, normally 0) or "cuda:N" (index N). Anything else throws gvae::Error.
struct DeviceSpec {
  Device device = Device::Cpu;
  int index = -1;
};
DeviceSpec parseDeviceSpec(std::string_view name);

/// Number of CUDA devices LibTorch sees (0 with a CPU-only LibTorch or without a GPU).
int cudaDeviceCount() noexcept;

/// The current stream of `device` on the calling thread (CUDA: the default stream unless the caller
/// set another with c10::StreamGuard). CPU: the (only) CPU stream.
c10::Stream currentStream(c10::Device device);

/// A stream from LibTorch's per-device pool (CUDA: round-robin over 32 non-default streams), for a
/// caller that has none of its own. Throws gvae::DeviceUnavailable for a CUDA device LibTorch lacks.
c10::Stream newStream(c10::Device device);

#if defined(GVAE_WITH_CUDA)
/// Wrap a framework-owned raw CUDA stream (not owned, not destroyed by LibTorch) on device `index`.
inline c10::Stream streamFromCuda(cudaStream_t stream, c10::DeviceIndex index) {
  return c10::cuda::getStreamFromExternal(stream, index);
}
#endif

}  // namespace gvae

#endif  // GVAE_CUDA_H
