// GvaeFastSimProducer: fast simulation of generator-level jets with the gvae model's `simulate`
// entry point (prior p(z | type, pT) + latent-only decoder), one module instance per stream, the
// model shared through the GlobalCache (CMSSW: a stream::EDProducer<edm::GlobalCache<...>> ML
// producer, as GvaeReconstructionProducer).
//
// Parameters (block `gvaeFastSim`):
//   modelPath  string  exported model with a `simulate` entry point (contract v2): .pt or .pt2 (required)
//   device     string  cpu | cuda | auto (default cpu)
//   batchSize  int     jets per model call within one event (default 64, >= 1)
//   seed       uint    noise seed (default 0)
//   noise      string  "jet" (default): per-jet generators seeded with gvae::jetSeed(seed, jet id): a jet's
//                      hits do not depend on the number of streams, batching or jetsPerEvent;
//                      "stream": one gvae::NoiseGenerator per stream seeded with seed + stream index
//                      (output depends on which stream ran which event)
//   src        string  label of the input gvaedf::GenJetCollection (default "genJets")
// Puts std::vector<gvae::SimulatedJet> (one per generator jet, same order) under the module label.
// A generator jet without eta/phi (NaN) is simulated at eta = phi = 0 (hits are offsets from the axis).
//
// Only compiled when the installed libgvae provides gvae::Simulator (CMake check in CMakeLists.txt,
// GVAE_EXAMPLE_HAS_SIMULATOR); readSettings/validate are header-only so gvaeRun can check the
// block's parameters either way.
#ifndef GvaeProducer_GvaeFastSimProducer_h
#define GvaeProducer_GvaeFastSimProducer_h

#include <memory>
#include <optional>
#include <string>

#include "FWCore/Framework/interface/stream/EDProducer.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "FWCore/Utilities/interface/Exception.h"
#include "gvae/Errors.h"
#include "gvae/Model.h"
#include "gvae/Producer.h"
#include "gvae/Simulator.h"

/// What all streams share: the one model and the const, thread-safe simulator around it.
struct GvaeFastSimCache {
  std::shared_ptr<const gvae::Model> model;
  std::unique_ptr<const gvae::Simulator> simulator;
  bool perStreamNoise = false;
};

class GvaeFastSimProducer : public edm::stream::EDProducer<edm::GlobalCache<GvaeFastSimCache>> {
 public:
  struct Settings {
    std::string modelPath;
    gvae::Device device = gvae::Device::Cpu;
    gvae::SimulatorConfig config;
    bool perStreamNoise = false;
    std::string src;
  };
  /// Read and check every parameter (Configuration errors name the key); loads nothing.
  static Settings readSettings(const edm::ParameterSet& pset) {
    const auto bad = [&pset](const std::string& name, const std::string& what) {
      throw edm::Exception(edm::errors::Category::Configuration,
                           pset.origin(name) + ": parameter 'gvaeFastSim." + name + "' " + what);
    };
    Settings s;
    s.modelPath = pset.getParameter<std::string>("modelPath");
    if (s.modelPath.empty()) bad("modelPath", "is empty");
    const std::string device = pset.getUntrackedParameter<std::string>("device", "cpu");
    try {
      s.device = gvae::parseDevice(device);
    } catch (const gvae::Error&) {
      bad("device", "must be cpu, cuda or auto, got '" + device + "'");
    }
    s.config.batch_size = pset.getUntrackedParameter<int>("batchSize", 64);
    if (s.config.batch_size < 1) bad("batchSize", "must be >= 1");
    // batches ordered by decoded hit count when the model has simulate_counts (same output, less padding)
    s.config.sort_by_count = pset.getUntrackedParameter<bool>("sortByCount", true);
    s.config.seed = pset.getUntrackedParameter<std::uint64_t>("seed", 0);
    const std::string noise = pset.getUntrackedParameter<std::string>("noise", "jet");
    if (noise != "jet" && noise != "stream") bad("noise", "must be jet or stream, got '" + noise + "'");
    s.perStreamNoise = noise == "stream";
    s.src = pset.getUntrackedParameter<std::string>("src", "genJets");
    return s;
  }
  static void validate(const edm::ParameterSet& pset) { readSettings(pset); }

  /// Loads the model once, with one AOTInductor runner per stream (the streams share it without
  /// waiting for each other), and checks it can simulate (gvae::ModelLoadError, ContractError,
  /// DeviceUnavailable, InvalidInput for a batchSize outside the model's batch range).
  static std::unique_ptr<GvaeFastSimCache> initializeGlobalCache(const edm::ParameterSet& pset, unsigned streams);
  static void globalEndJob(const GvaeFastSimCache*) {}

  GvaeFastSimProducer(const edm::ParameterSet& pset, const GvaeFastSimCache* cache);
  void beginStream(unsigned stream) override;
  void produce(edm::Event& event) override;

 private:
  std::string src_;
  std::optional<c10::Stream> cudaStream_;      ///< CUDA models: this stream's own CUDA stream
  std::unique_ptr<gvae::NoiseGenerator> rng_;  ///< per stream, noise = "stream" only
};

#endif  // GvaeProducer_GvaeFastSimProducer_h
