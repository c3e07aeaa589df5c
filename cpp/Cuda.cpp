// Device selection (cuda:N), streams and the private DeviceScope (cpp/DeviceScope.h).
//
// Only c10's device-generic API is used here (c10::impl::VirtualGuardImpl, c10::DeviceGuard,
// c10::StreamGuard): with a CUDA LibTorch these dispatch to c10::cuda's registered guard
// implementation (CUDAGuardImpl: cudaSetDevice, the per-device current stream, cudaStreamSynchronize),
// so the library compiles unchanged against a CPU-only LibTorch and needs no CUDA headers.
#include "gvae/Cuda.h"

#include <cctype>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/cuda.h>

#include "DeviceScope.h"
#include "gvae/Errors.h"

namespace gvae {

DeviceSpec parseDeviceSpec(std::string_view name) {
  if (name == "cpu") return {Device::Cpu, -1};
  if (name == "auto") return {Device::Auto, -1};
  if (name == "cuda") return {Device::Cuda, -1};
  if (name.substr(0, 5) == "cuda:" && name.size() > 5 && name.size() <= 8) {
    int index = 0;
    for (char ch : name.substr(5)) {
      if (!std::isdigit(static_cast<unsigned char>(ch))) {
        index = -1;
        break;
      }
      index = index * 10 + (ch - '0');
    }
    if (index >= 0) return {Device::Cuda, index};
  }
  throw Error("unknown device '" + std::string(name) + "' (expected cpu, cuda, cuda:N or auto)");
}

int cudaDeviceCount() noexcept {
  try {
    return static_cast<int>(torch::cuda::device_count());
  } catch (...) {
    return 0;
  }
}

c10::Stream currentStream(c10::Device device) {
  if (device.is_cpu()) return c10::Stream(c10::Stream::DEFAULT, c10::Device(c10::kCPU));
  if (!device.is_cuda() || !device.has_index() || device.index() >= cudaDeviceCount())
    throw DeviceUnavailable("no stream for device '" + device.str() + "': LibTorch sees " +
                            std::to_string(cudaDeviceCount()) + " CUDA device(s)");
  return c10::impl::VirtualGuardImpl(c10::kCUDA).getStream(device);
}

c10::Stream newStream(c10::Device device) {
  if (device.is_cpu()) return currentStream(device);
  if (!device.is_cuda() || !device.has_index() || device.index() >= cudaDeviceCount())
    throw DeviceUnavailable("no stream for device '" + device.str() + "': LibTorch sees " +
                            std::to_string(cudaDeviceCount()) + " CUDA device(s)");
  return c10::impl::VirtualGuardImpl(c10::kCUDA).getStreamFromGlobalPool(device);
}

namespace detail {

DeviceScope::DeviceScope(c10::Device device, const std::optional<c10::Stream>& stream, const std::string& what)
    : device_(device) {
  if (stream && stream->device() != device && !(stream->device_type() == c10::kCPU && device.is_cpu()))
    throw InvalidInput(what + ": stream on '" + stream->device().str() + "' but the model runs on '" +
                       device.str() + "'");
  if (!device.is_cuda()) return;
  deviceGuard_.reset_device(device);
  if (stream) {
    streamGuard_.reset_stream(*stream);
    active_ = *stream;
  } else {
    active_ = c10::impl::VirtualGuardImpl(c10::kCUDA).getStream(device);
  }
}

void* DeviceScope::nativeHandle() const { return active_ ? active_->native_handle() : nullptr; }

void DeviceScope::synchronize() const {
  if (active_) active_->synchronize();
}

at::Tensor DeviceScope::toDevice(const at::Tensor& t) const {
  if (t.device() == device_) return t.contiguous();
  return t.to(device_, t.scalar_type(), /*non_blocking=*/cuda()).contiguous();
}

at::Tensor DeviceScope::toHost(const at::Tensor& t) const {
  if (t.is_cpu()) return t;
  at::Tensor host = at::empty(t.sizes(), t.options().device(c10::kCPU).pinned_memory(true));
  host.copy_(t, /*non_blocking=*/true);
  synchronize();
  return host;
}

}  // namespace detail
}  // namespace gvae
