// GvhSimOutputModule: writes the simulated jets of every event as a .gvh hits file
// (CMSSW: PoolOutputModule), the same format and schema as `python -m gvae.data generate` and
// `python -m gvae.simulate --out X.gvh`, so `python -m gvae.data inspect`, gvae.io.read_jets and the
// evaluation read it.
//
// Parameters (block `simOut`):
//   fileName  string  output .gvh (required)
//   genJets   string  label of the gvaedf::GenJetCollection (default "genJets")
//   sim       string  label of the std::vector<gvae::SimulatedJet> (default "gvaeFastSim")
// Per jet: event_id = the generator jet's id, pt, eta, phi = its conditions (NaN where not given),
// label = its type, m0 = invariant mass of the simulated calorimeter hits (massless, at the pixel
// centres; as gvae.simulate's m0); then one hit per simulated hit: channel, ieta, iphi (HCAL: the
// tower's centre pixel 5t+2), energy in GeV. Simulated hits sit on detector cells, so the file keeps
// everything the simulator returned. Written as <name>.tmp and renamed on endJob().
#ifndef IOGvh_GvhSimOutputModule_h
#define IOGvh_GvhSimOutputModule_h

#include <memory>
#include <string>
#include <vector>

#include "FWCore/Framework/interface/OutputModule.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "IOGvh/interface/GvhFile.h"
#include "gvae/Hits.h"

class GvhSimOutputModule : public edm::OutputModule {
 public:
  GvhSimOutputModule(const std::string& label, const edm::ParameterSet& pset);
  static void validate(const edm::ParameterSet& pset) { GvhSimOutputModule("validate", pset); }
  void beginJob() override;
  void write(const edm::Event& event) override;
  void endJob() override;
  const std::string& fileName() const noexcept { return fileName_; }

  /// Invariant mass (GeV) of the calorimeter hits (ECAL + HCAL) of a jet, massless at the pixel
  /// centres (x, y) = ((ieta - 62), (iphi - 62)) x 0.0174: gvae.simulate's m0.
  static double caloMass(const std::vector<gvae::RecoHit>& hits);

 private:
  std::string fileName_;
  std::string genJetsLabel_;
  std::string simLabel_;
  std::unique_ptr<gvh::GvhWriter> writer_;
};

#endif  // IOGvh_GvhSimOutputModule_h
