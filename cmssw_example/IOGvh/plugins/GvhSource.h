// GvhSource: the input source reading jets from a .gvh file (CMSSW: PoolSource reading EDM files).
//
// Parameters (block `source`):
//   fileName      string  the .gvh file (required)
//   jetsPerEvent  int     consecutive jets grouped into one event (default 1). The producer runs
//                         gvae on all jets of an event in one call, batched by batchSize.
//   skipEvents    int     events to skip at the start (default 0)
// Puts a gvaedf::JetCollection under the module label ("source").
#ifndef IOGvh_GvhSource_h
#define IOGvh_GvhSource_h

#include <memory>
#include <string>

#include "FWCore/Framework/interface/InputSource.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "IOGvh/interface/GvhFile.h"

class GvhSource : public edm::InputSource {
 public:
  /// Read and check every parameter (edm::Exception Configuration), open nothing.
  static void validate(const edm::ParameterSet& pset);
  /// Opens and validates the file (gvae::DataError naming file, row and field).
  GvhSource(const std::string& label, const edm::ParameterSet& pset);
  std::unique_ptr<edm::Event> readEvent() override;
  std::uint64_t numberOfJets() const noexcept { return reader_.size(); }

 private:
  gvae::GvhReader reader_;
  int jetsPerEvent_;
  std::uint64_t nextIndex_ = 0;
};

#endif  // IOGvh_GvhSource_h
