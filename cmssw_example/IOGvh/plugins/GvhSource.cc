#include "IOGvh/plugins/GvhSource.h"

#include "FWCore/Utilities/interface/Exception.h"

namespace {
int positive(const edm::ParameterSet& pset, const std::string& name, int fallback) {
  const int value = pset.getUntrackedParameter<int>(name, fallback);
  if (value < 1)
    throw edm::Exception(edm::errors::Category::Configuration,
                         pset.origin(name) + ": parameter '" + name + "' must be >= 1, got " + std::to_string(value));
  return value;
}
}  // namespace

void GvhSource::validate(const edm::ParameterSet& pset) {
  pset.getParameter<std::string>("fileName");
  positive(pset, "jetsPerEvent", 1);
  if (pset.getUntrackedParameter<std::int64_t>("skipEvents", 0) < 0)
    throw edm::Exception(edm::errors::Category::Configuration,
                         pset.origin("skipEvents") + ": parameter 'skipEvents' must be >= 0");
}

GvhSource::GvhSource(const std::string& label, const edm::ParameterSet& pset)
    : edm::InputSource(label, "GvhSource"),
      reader_(pset.getParameter<std::string>("fileName")),
      jetsPerEvent_(positive(pset, "jetsPerEvent", 1)) {
  const auto skip = pset.getUntrackedParameter<std::int64_t>("skipEvents", 0);
  if (skip < 0)
    throw edm::Exception(edm::errors::Category::Configuration,
                         pset.origin("skipEvents") + ": parameter 'skipEvents' must be >= 0");
  gvae::GvhJet discard;
  for (std::int64_t e = 0; e < skip; ++e)
    for (int j = 0; j < jetsPerEvent_; ++j) reader_.next(discard);
}

std::unique_ptr<edm::Event> GvhSource::readEvent() {
  auto jets = std::make_unique<gvaedf::JetCollection>();
  gvae::GvhJet record;
  while (static_cast<int>(jets->hits.size()) < jetsPerEvent_ && reader_.next(record)) {
    jets->kinematics.push_back(gvaedf::JetKinematics{record.event_id, record.pt, record.eta, record.phi, record.m0,
                                                     record.label});
    jets->hits.push_back(gvae::JetHits{record.event_id, std::move(record.hits)});
    record.hits = {};
  }
  if (jets->hits.empty()) return nullptr;
  auto event = std::make_unique<edm::Event>(edm::EventID{jets->kinematics.front().eventID, nextIndex_++});
  event->put(label(), std::move(jets));
  return event;
}
