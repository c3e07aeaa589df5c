#include "PhysicsTools/Gvae/interface/ThreadsService.h"

#include "FWCore/Utilities/interface/Exception.h"
#include "gvae/Threading.h"

namespace {
int threadCount(const edm::ParameterSet& pset, const std::string& name) {
  const int value = pset.getUntrackedParameter<int>(name, 1);
  if (value < 1)
    throw edm::Exception(edm::errors::Category::Configuration,
                         pset.origin(name) + ": ThreadsService." + name + " must be >= 1, got " + std::to_string(value));
  return value;
}
}  // namespace

ThreadsService::ThreadsService(const edm::ParameterSet& pset)
    : intra_(threadCount(pset, "intraOpThreads")), inter_(threadCount(pset, "interOpThreads")) {
  // Once per process: the ServiceRegistry holds exactly one ThreadsService, and
  // gvae::configureThreads itself refuses a second, different setting.
  gvae::configureThreads(intra_, inter_);
}
