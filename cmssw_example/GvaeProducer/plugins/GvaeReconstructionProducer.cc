#include "GvaeProducer/plugins/GvaeReconstructionProducer.h"

#include <vector>

#include "DataFormats/GvaeJets/interface/JetCollection.h"
#include "FWCore/Framework/interface/Event.h"
#include "FWCore/Utilities/interface/Exception.h"
#include "gvae/Cuda.h"
#include "gvae/Errors.h"
#include "gvae/Hits.h"

namespace {
[[noreturn]] void badParameter(const edm::ParameterSet& pset, const std::string& name, const std::string& what) {
  throw edm::Exception(edm::errors::Category::Configuration,
                       pset.origin(name) + ": parameter 'gvaeReco." + name + "' " + what);
}
}  // namespace

GvaeReconstructionProducer::Settings GvaeReconstructionProducer::readSettings(const edm::ParameterSet& pset) {
  Settings s;
  s.config.model_path = pset.getParameter<std::string>("modelPath");
  if (s.config.model_path.empty()) badParameter(pset, "modelPath", "is empty");
  const std::string device = pset.getUntrackedParameter<std::string>("device", "cpu");
  try {
    const gvae::DeviceSpec spec = gvae::parseDeviceSpec(device);
    s.config.device = spec.device;
    s.config.model_options.device_index = spec.index;
  } catch (const gvae::Error&) {
    badParameter(pset, "device", "must be cpu, cuda, cuda:N or auto, got '" + device + "'");
  }
  // AOTInductor runners = how many streams call the shared model at once (run_demo.sh passes
  // process.numberOfStreams); 0 = one per hardware thread.
  const int runners = pset.getUntrackedParameter<int>("aotiRunners", 0);
  if (runners < 0) badParameter(pset, "aotiRunners", "must be >= 0");
  s.config.model_options.aoti_runners = static_cast<std::size_t>(runners);
  s.config.batch_size = pset.getUntrackedParameter<int>("batchSize", 64);
  if (s.config.batch_size < 1) badParameter(pset, "batchSize", "must be >= 1");
  // each event's jets run in batches ordered by hit count (results in input order; less padding)
  s.config.sort_by_size = pset.getUntrackedParameter<bool>("sortBySize", true);
  const std::string mode = pset.getUntrackedParameter<std::string>("mode", "deterministic");
  try {
    s.config.mode = gvae::parseMode(mode);
  } catch (const gvae::Error&) {
    badParameter(pset, "mode", "must be deterministic or sampling, got '" + mode + "'");
  }
  s.config.seed = pset.getUntrackedParameter<std::uint64_t>("seed", 0);
  const std::string noise = pset.getUntrackedParameter<std::string>("noise", "jet");
  if (noise != "jet" && noise != "stream") badParameter(pset, "noise", "must be jet or stream, got '" + noise + "'");
  s.perStreamNoise = noise == "stream";
  s.src = pset.getUntrackedParameter<std::string>("src", "source");
  return s;
}

std::unique_ptr<GvaeCache> GvaeReconstructionProducer::initializeGlobalCache(const edm::ParameterSet& pset) {
  const Settings s = readSettings(pset);
  auto cache = std::make_unique<GvaeCache>();
  cache->model = gvae::Model::load(s.config.model_path, s.config.device, s.config.model_options);
  cache->producer = std::make_unique<const gvae::Producer>(cache->model, s.config);
  cache->perStreamNoise = s.perStreamNoise;
  return cache;
}

GvaeReconstructionProducer::GvaeReconstructionProducer(const edm::ParameterSet& pset, const GvaeCache* cache)
    : edm::stream::EDProducer<edm::GlobalCache<GvaeCache>>(cache),
      src_(pset.getUntrackedParameter<std::string>("src", "source")) {}

void GvaeReconstructionProducer::beginStream(unsigned stream) {
  // CUDA: each framework stream runs its model calls on its own CUDA stream (from LibTorch's pool), so
  // streams do not serialise on the default stream (CMSSW would hand in its own cudaStream_t here,
  // gvae::streamFromCuda); CPU: none.
  const c10::Device device = globalCache()->producer->model().device();
  if (device.is_cuda()) cudaStream_ = gvae::newStream(device);
  const auto& config = globalCache()->producer->config();
  if (config.mode == gvae::Mode::Sampling && globalCache()->perStreamNoise)
    rng_ = std::make_unique<gvae::NoiseGenerator>(config.seed + stream);
}

void GvaeReconstructionProducer::produce(edm::Event& event) {
  const auto& jets = event.get<gvaedf::JetCollection>(src_);
  auto results = std::make_unique<std::vector<gvae::JetResult>>(
      globalCache()->producer->produce(jets.hits, rng_.get(), cudaStream_));
  event.put(moduleLabel(), std::move(results));
}
