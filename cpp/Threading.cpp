// gvae::configureThreads: the single process-wide LibTorch threading setup.
#include "gvae/Threading.h"

#include <atomic>
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

// Bumped by every successful configureThreads(); each thread re-applies when it sees a new value.
std::atomic<unsigned>& generation() {
  static std::atomic<unsigned> g{1};
  return g;
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
  generation().fetch_add(1, std::memory_order_release);
}

void applyThreadsToCallingThread() {
  thread_local unsigned applied = 0;
  const unsigned now = generation().load(std::memory_order_acquire);
  if (applied == now) return;
  // ATen's per-thread initialisation: omp_set_num_threads(intra-op count) on this thread (and MKL's
  // thread-local count), the same call at::parallel_for makes before its first region on a thread.
  at::init_num_threads();
  applied = now;
}

ThreadSettings configuredThreads() noexcept {
  std::lock_guard<std::mutex> lock(settingsMutex());
  return settings();
}

}  // namespace gvae
