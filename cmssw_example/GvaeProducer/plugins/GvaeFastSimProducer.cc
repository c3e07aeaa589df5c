#include "GvaeProducer/plugins/GvaeFastSimProducer.h"

#include <cmath>
#include <vector>

#include "DataFormats/GvaeJets/interface/GenJetCollection.h"
#include "FWCore/Framework/interface/Event.h"
#include "gvae/Cuda.h"

std::unique_ptr<GvaeFastSimCache> GvaeFastSimProducer::initializeGlobalCache(const edm::ParameterSet& pset,
                                                                            unsigned streams) {
  const Settings s = readSettings(pset);
  auto cache = std::make_unique<GvaeFastSimCache>();
  gvae::ModelOptions options;
  options.aoti_runners = streams;
  cache->model = gvae::Model::load(s.modelPath, s.device, options);
  cache->simulator = std::make_unique<const gvae::Simulator>(cache->model, s.config);  // ContractError: no simulate
  cache->perStreamNoise = s.perStreamNoise;
  return cache;
}

GvaeFastSimProducer::GvaeFastSimProducer(const edm::ParameterSet& pset, const GvaeFastSimCache* cache)
    : edm::stream::EDProducer<edm::GlobalCache<GvaeFastSimCache>>(cache),
      src_(pset.getUntrackedParameter<std::string>("src", "genJets")) {}

void GvaeFastSimProducer::beginStream(unsigned stream) {
  // CUDA: each framework stream runs its model calls on its own CUDA stream (from LibTorch's pool), so
  // streams do not serialise on the default stream (CMSSW would hand in its own cudaStream_t here,
  // gvae::streamFromCuda); CPU: none.
  const c10::Device device = globalCache()->model->device();
  if (device.is_cuda()) cudaStream_ = gvae::newStream(device);
  if (globalCache()->perStreamNoise)
    rng_ = std::make_unique<gvae::NoiseGenerator>(globalCache()->simulator->config().seed + stream);
}

void GvaeFastSimProducer::produce(edm::Event& event) {
  const auto& genJets = event.get<gvaedf::GenJetCollection>(src_);
  std::vector<gvae::JetCondition> conditions;
  conditions.reserve(genJets.size());
  for (const auto& g : genJets)
    conditions.push_back(gvae::JetCondition{g.jetID, g.type, g.pt, std::isfinite(g.eta) ? g.eta : 0.0,
                                            std::isfinite(g.phi) ? g.phi : 0.0});
  auto simulated = std::make_unique<std::vector<gvae::SimulatedJet>>(
      globalCache()->simulator->simulate(conditions, rng_.get(), cudaStream_));
  event.put(moduleLabel(), std::move(simulated));
}
