#include "IOGvh/plugins/GvhSimOutputModule.h"

#include <algorithm>
#include <cmath>

#include "DataFormats/GvaeJets/interface/GenJetCollection.h"
#include "FWCore/Utilities/interface/Exception.h"
#include "gvae/Geometry.h"
#include "gvae/Simulator.h"

GvhSimOutputModule::GvhSimOutputModule(const std::string& label, const edm::ParameterSet& pset)
    : edm::OutputModule(label, "GvhSimOutputModule"),
      fileName_(pset.getParameter<std::string>("fileName")),
      genJetsLabel_(pset.getUntrackedParameter<std::string>("genJets", "genJets")),
      simLabel_(pset.getUntrackedParameter<std::string>("sim", "gvaeFastSim")) {
  if (fileName_.empty())
    throw edm::Exception(edm::errors::Category::Configuration, pset.origin("fileName") + ": 'fileName' is empty");
}

void GvhSimOutputModule::beginJob() { writer_ = std::make_unique<gvh::GvhWriter>(fileName_); }

double GvhSimOutputModule::caloMass(const std::vector<gvae::RecoHit>& hits) {
  double en = 0, px = 0, py = 0, pz = 0;
  for (const auto& h : hits) {
    if (h.channel == gvae::geometry::kTrack) continue;
    const double x = gvae::geometry::pixelToOffset(h.ieta), y = gvae::geometry::pixelToOffset(h.iphi);
    const double et = h.energy / std::cosh(x);
    px += et * std::cos(y);
    py += et * std::sin(y);
    pz += et * std::sinh(x);
    en += et * std::cosh(x);
  }
  const double m2 = en * en - px * px - py * py - pz * pz;
  return std::sqrt(std::max(m2, 0.0));
}

void GvhSimOutputModule::write(const edm::Event& event) {
  const auto& genJets = event.get<gvaedf::GenJetCollection>(genJetsLabel_);
  const auto& simulated = event.get<std::vector<gvae::SimulatedJet>>(simLabel_);
  if (simulated.size() != genJets.size())
    throw edm::Exception(edm::errors::Category::EventProcessing,
                         "event " + std::to_string(event.id().event) + ": " + std::to_string(simulated.size()) +
                             " simulated jets for " + std::to_string(genJets.size()) + " generator jets");
  for (std::size_t j = 0; j < simulated.size(); ++j) {
    const auto& gen = genJets[j];
    const auto& sim = simulated[j];
    if (sim.jet_id != gen.jetID)
      throw edm::Exception(edm::errors::Category::EventProcessing,
                           "event " + std::to_string(event.id().event) + ", jet " + std::to_string(j) +
                               ": simulated jet id " + std::to_string(sim.jet_id) + " for generator jet " +
                               std::to_string(gen.jetID));
    const gvaedf::JetKinematics kinematics{gen.jetID, static_cast<float>(gen.pt), static_cast<float>(gen.eta),
                                           static_cast<float>(gen.phi), static_cast<float>(caloMass(sim.hits)),
                                           static_cast<float>(gen.type)};
    writer_->writeHits(kinematics, sim.hits);
  }
}

void GvhSimOutputModule::endJob() { writer_->commit(); }
