// GvhOutputModule: writes the reconstructed hits of every event (CMSSW: PoolOutputModule).
//
// Parameters (block `out`):
//   fileName         string  .gvh file of reconstructed jets (required): the input jet's event_id,
//                            pt, eta, phi, m0, label and one hit per reconstructed node: channel,
//                            (ieta, iphi) = nearest pixel to (x, y) (HCAL: the centre pixel 5t+2 of
//                            the tower holding it, as DESIGN section 3.1 asks), energy in GeV.
//                            Readable by gvae.io.read_jets like any .gvh file.
//   detailsFileName  string  optional .gvr file with the full-precision x, y, energy of every
//                            reconstructed node and per-jet diagnostics (README "Output files").
//   jets             string  label of the gvaedf::JetCollection (default "source")
//   reco             string  label of the std::vector<gvae::JetResult> (default "gvaeReco")
// Files are written as <name>.tmp and renamed on endJob(), so a failed job leaves no output.
#ifndef IOGvh_GvhOutputModule_h
#define IOGvh_GvhOutputModule_h

#include <memory>
#include <string>

#include "FWCore/Framework/interface/OutputModule.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "IOGvh/interface/GvhFile.h"

class GvhOutputModule : public edm::OutputModule {
 public:
  GvhOutputModule(const std::string& label, const edm::ParameterSet& pset);
  void beginJob() override;
  void write(const edm::Event& event) override;
  void endJob() override;

 private:
  std::string fileName_;
  std::string detailsFileName_;
  std::string jetsLabel_;
  std::string recoLabel_;
  std::unique_ptr<gvh::GvhWriter> writer_;
  std::unique_ptr<gvh::GvrWriter> details_;
};

#endif  // IOGvh_GvhOutputModule_h
