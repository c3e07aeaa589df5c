// ThreadsService: sets LibTorch's threading once per process (CMSSW: PyTorchService, which
// turns off the library's own thread pools so that the framework's threads do the parallelism).
//
// Parameters (block `ThreadsService`):
//   intraOpThreads  int  threads inside one operator (default 1)
//   interOpThreads  int  LibTorch inter-op pool size (default 1)
// With N streams and the defaults, the process runs N LibTorch forwards at once, each on its own
// stream's thread. The service is created before any module, so before any model is loaded.
#ifndef PhysicsTools_Gvae_ThreadsService_h
#define PhysicsTools_Gvae_ThreadsService_h

#include "FWCore/ParameterSet/interface/ParameterSet.h"

class ThreadsService {
 public:
  static constexpr const char* kName = "ThreadsService";
  /// Calls gvae::configureThreads(intra, inter); Configuration error for values < 1.
  explicit ThreadsService(const edm::ParameterSet& pset);
  int intraOpThreads() const noexcept { return intra_; }
  int interOpThreads() const noexcept { return inter_; }

 private:
  int intra_;
  int inter_;
};

#endif  // PhysicsTools_Gvae_ThreadsService_h
