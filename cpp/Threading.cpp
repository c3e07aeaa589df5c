// gvae::configureThreads: the single process-wide LibTorch threading setup.
#include "gvae/Threading.h"

#include <cstddef>
#include <mutex>
#include <string>

#include <ATen/Parallel.h>

#include "gvae/Errors.h"

namespace gvae {
namespace {

std::mutex& settingsMutex() {
  static std::mutex m;
  return m;
}

ThreadSettings& settings() {
  static ThreadSettings s;
  return s;
}

}  // namespace

void configureThreads(int intra_op_threads, int inter_op_threads) {
  if (intra_op_threads < 1 || inter_op_threads < 1)
    throw Error("configureThreads: thread counts must be >= 1, got intra_op=" + std::to_string(intra_op_threads) +
                " inter_op=" + std::to_string(inter_op_threads));
  std::lock_guard<std::mutex> lock(settingsMutex());
  ThreadSettings& s = settings();
  if (s.intra_op_threads != 0) {
    if (s.intra_op_threads == intra_op_threads && s.inter_op_threads == inter_op_threads) return;
    throw Error("configureThreads: already configured with intra_op=" + std::to_string(s.intra_op_threads) +
                " inter_op=" + std::to_string(s.inter_op_threads) + "; it is process-wide and set once");
  }
  try {
    at::set_num_interop_threads(inter_op_threads);
  } catch (const std::exception& e) {
    // Already fixed (by an earlier set or by the pool having started): fine if it is the same size.
    if (at::get_num_interop_threads() != static_cast<std::size_t>(inter_op_threads))
      throw Error("configureThreads: LibTorch refused inter_op=" + std::to_string(inter_op_threads) +
                  " (call it before any model runs): " + e.what());
  }
  at::set_num_threads(intra_op_threads);
  s.intra_op_threads = intra_op_threads;
  s.inter_op_threads = inter_op_threads;
}

ThreadSettings configuredThreads() noexcept {
  std::lock_guard<std::mutex> lock(settingsMutex());
  return settings();
}

}  // namespace gvae
