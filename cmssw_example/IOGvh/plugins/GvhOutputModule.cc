#include "IOGvh/plugins/GvhOutputModule.h"

#include "FWCore/Utilities/interface/Exception.h"

GvhOutputModule::GvhOutputModule(const std::string& label, const edm::ParameterSet& pset)
    : edm::OutputModule(label, "GvhOutputModule"),
      fileName_(pset.getParameter<std::string>("fileName")),
      detailsFileName_(pset.getUntrackedParameter<std::string>("detailsFileName", "")),
      jetsLabel_(pset.getUntrackedParameter<std::string>("jets", "source")),
      recoLabel_(pset.getUntrackedParameter<std::string>("reco", "gvaeReco")) {
  if (fileName_.empty())
    throw edm::Exception(edm::errors::Category::Configuration, pset.origin("fileName") + ": 'fileName' is empty");
  if (detailsFileName_ == fileName_)
    throw edm::Exception(edm::errors::Category::Configuration,
                         pset.origin("detailsFileName") + ": 'detailsFileName' must differ from 'fileName'");
}

void GvhOutputModule::beginJob() {
  writer_ = std::make_unique<gvh::GvhWriter>(fileName_);
  if (!detailsFileName_.empty()) details_ = std::make_unique<gvh::GvrWriter>(detailsFileName_);
}

void GvhOutputModule::write(const edm::Event& event) {
  const auto& jets = event.get<gvaedf::JetCollection>(jetsLabel_);
  const auto& reco = event.get<std::vector<gvae::JetResult>>(recoLabel_);
  if (reco.size() != jets.kinematics.size())
    throw edm::Exception(edm::errors::Category::EventProcessing,
                         "event " + std::to_string(event.id().event) + ": " + std::to_string(reco.size()) +
                             " reconstructed jets for " + std::to_string(jets.kinematics.size()) + " input jets");
  for (std::size_t j = 0; j < reco.size(); ++j) {
    writer_->writeHits(jets.kinematics[j], reco[j].hits);
    if (details_) details_->write(reco[j], jets.kinematics[j].eventID);
  }
}

void GvhOutputModule::endJob() {
  writer_->commit();
  if (details_) details_->commit();
}
