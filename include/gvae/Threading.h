// Process-wide LibTorch threading setup: the one piece of global state libgvae touches.
//
// A multi-threaded framework (one producer per stream/thread) wants every forward to run on the
// calling thread: intra-op = 1, inter-op = 1 (the defaults). Call configureThreads() once, early,
// before the first model is loaded or run (LibTorch fixes the inter-op pool on first use).
// Calling it again with the same values is a no-op; different values throw gvae::Error, as does a
// call after LibTorch already started its inter-op pool with another size. Without any call,
// LibTorch's own defaults (one thread per core) stay in effect.
//
// OpenMP keeps the team size per thread: at::set_num_threads() changes it for the calling thread
// only, and a thread the framework starts later begins with OpenMP's process default (OMP_NUM_THREADS,
// else one per core). ATen's own parallel_for re-applies the intra-op count on each thread, but the
// kernels AOTInductor compiles (`#pragma omp parallel` without num_threads) read the calling thread's
// team size directly. Model::forward therefore calls applyThreadsToCallingThread() first, so an
// AOTInductor forward on any thread uses exactly the configured intra-op count (tests/cpp/
// test_thread_count.cpp counts the threads).
#ifndef GVAE_THREADING_H
#define GVAE_THREADING_H

namespace gvae {

/// Set LibTorch's intra-op (at::set_num_threads) and inter-op (at::set_num_interop_threads)
/// thread counts for the whole process. Both must be >= 1.
void configureThreads(int intra_op_threads = 1, int inter_op_threads = 1);

/// The values passed to the first successful configureThreads() call; {0, 0} before that.
struct ThreadSettings {
  int intra_op_threads = 0;
  int inter_op_threads = 0;
};
ThreadSettings configuredThreads() noexcept;

/// Give the calling thread LibTorch's intra-op thread count as its OpenMP team size
/// (at::init_num_threads). Cheap after the first call on a thread: it re-applies only when
/// configureThreads() ran since. Model::forward calls it; call it yourself before running other
/// OpenMP code of LibTorch's (e.g. a raw AOTIModelPackageLoader) on a thread of your own.
void applyThreadsToCallingThread();

}  // namespace gvae

#endif  // GVAE_THREADING_H
