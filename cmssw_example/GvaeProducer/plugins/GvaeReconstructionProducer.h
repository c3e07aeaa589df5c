// GvaeReconstructionProducer: fast reconstruction of jets with the gvae model, one module
// instance per stream, the model shared through the GlobalCache (CMSSW: a
// stream::EDProducer<edm::GlobalCache<ONNXRuntime>> / PyTorch producer).
//
// Parameters (block `gvaeReco`):
//   modelPath  string  exported model: TorchScript .pt or AOTInductor .pt2 (required)
//   device     string  cpu | cuda | auto (default cpu)
//   batchSize  int     jets per model call within one event (default 64, >= 1)
//   mode       string  deterministic | sampling (default deterministic)
//   seed       uint    sampling seed (default 0)
//   noise      string  sampling noise source: "jet" (default) = a generator per jet seeded with
//                      (seed, event_id): the same output for any number of streams or batching;
//                      "stream" = one gvae::NoiseGenerator per stream seeded with seed + stream:
//                      cheaper, but the output depends on which stream ran which event.
//   src        string  label of the input gvaedf::JetCollection (default "source")
// Puts std::vector<gvae::JetResult> (one per input jet, same order) under the module label.
#ifndef GvaeProducer_GvaeReconstructionProducer_h
#define GvaeProducer_GvaeReconstructionProducer_h

#include <memory>
#include <optional>
#include <string>

#include "FWCore/Framework/interface/stream/EDProducer.h"
#include "FWCore/ParameterSet/interface/ParameterSet.h"
#include "gvae/Model.h"
#include "gvae/Producer.h"

/// What all streams share: the one model and the const, thread-safe producer around it.
struct GvaeCache {
  std::shared_ptr<const gvae::Model> model;
  std::unique_ptr<const gvae::Producer> producer;
  bool perStreamNoise = false;
};

class GvaeReconstructionProducer : public edm::stream::EDProducer<edm::GlobalCache<GvaeCache>> {
 public:
  /// The module's parameters, read and checked (Configuration errors name the key) before
  /// anything is loaded; used by validate() and initializeGlobalCache().
  struct Settings {
    gvae::ProducerConfig config;
    bool perStreamNoise = false;
    std::string src;
  };
  static Settings readSettings(const edm::ParameterSet& pset);
  static void validate(const edm::ParameterSet& pset) { readSettings(pset); }

  /// Loads the model once (gvae::ModelLoadError, ContractError, DeviceUnavailable).
  static std::unique_ptr<GvaeCache> initializeGlobalCache(const edm::ParameterSet& pset);
  static void globalEndJob(const GvaeCache*) {}

  GvaeReconstructionProducer(const edm::ParameterSet& pset, const GvaeCache* cache);
  void beginStream(unsigned stream) override;
  void produce(edm::Event& event) override;

 private:
  std::string src_;
  std::optional<c10::Stream> cudaStream_;      ///< CUDA models: this stream's own CUDA stream
  std::unique_ptr<gvae::NoiseGenerator> rng_;  ///< per stream, sampling with noise = "stream"
};

#endif  // GvaeProducer_GvaeReconstructionProducer_h
