// Private to libgvae: the device/stream scope of one model call, and host <-> device staging.
#ifndef GVAE_CPP_DEVICESCOPE_H
#define GVAE_CPP_DEVICESCOPE_H

#include <optional>
#include <string>

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/Stream.h>
#include <c10/core/StreamGuard.h>

namespace gvae::detail {

/// RAII for one call on `device` (a model's resolved device). On CUDA: a device guard (the
/// calling thread's current device becomes `device`, restored on exit) and, when the caller gives
/// a stream, a stream guard making it the current stream of `device` (restored on exit), so every
/// LibTorch op and copy inside runs on that stream. On CPU: nothing (a CPU stream is accepted and
/// ignored). A stream of another device throws gvae::InvalidInput naming `what`.
class DeviceScope {
 public:
  DeviceScope(c10::Device device, const std::optional<c10::Stream>& stream, const std::string& what);
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

  bool cuda() const noexcept { return device_.is_cuda(); }
  /// The stream the call runs on (CUDA only; nullopt on CPU).
  const std::optional<c10::Stream>& stream() const noexcept { return active_; }
  /// cudaStream_t of stream() as void* (what AOTInductor's run() takes), nullptr on CPU.
  void* nativeHandle() const;
  /// Block the calling thread until the work queued on stream() is done (CUDA), no-op on CPU.
  void synchronize() const;

  /// `t` on the scope's device: CUDA copies are non-blocking on stream() (the source is read in
  /// stream order: pinned sources are copied asynchronously and kept alive by LibTorch's host
  /// allocator until the copy has run; pageable ones are staged by the driver before it returns).
  at::Tensor toDevice(const at::Tensor& t) const;
  /// `t` on the CPU: from CUDA through a pinned buffer, copied non-blocking on stream(), then
  /// synchronize(): the result is ready when this returns, and only this stream was waited for.
  at::Tensor toHost(const at::Tensor& t) const;

 private:
  c10::Device device_;
  c10::OptionalDeviceGuard deviceGuard_;
  c10::OptionalStreamGuard streamGuard_;
  std::optional<c10::Stream> active_;
};

}  // namespace gvae::detail

#endif  // GVAE_CPP_DEVICESCOPE_H
