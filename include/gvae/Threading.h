// Process-wide LibTorch threading setup: the one piece of global state libgvae touches.
//
// A multi-threaded framework (one producer per stream/thread) wants every forward to run on the
// calling thread: intra-op = 1, inter-op = 1 (the defaults). Call configureThreads() once, early,
// before the first model is loaded or run (LibTorch fixes the inter-op pool on first use).
// Calling it again with the same values is a no-op; different values throw gvae::Error, as does a
// call after LibTorch already started its inter-op pool with another size. Without any call,
// LibTorch's own defaults (one thread per core) stay in effect.
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

}  // namespace gvae

#endif  // GVAE_THREADING_H
