// Fast simulation: generator-level jets (type, pT, eta, phi) in, detector hits per jet out, through a
// model's `simulate` entry point (prior p(z | type, pT) + latent-only decoder; contract v2).
//
//   auto model = gvae::Model::load("model.pt2", gvae::Device::Auto);   // once, shared
//   gvae::Simulator simulator(model, gvae::SimulatorConfig{});          // per module/stream
//   std::vector<gvae::SimulatedJet> out = simulator.simulate(jets);     // const, thread-safe
//
// Noise (prior + cardinality noise) comes from the caller's NoiseGenerator (one per stream; never
// shared between threads without a lock) or, when none is passed, from a per-jet generator seeded
// with jetSeed(config.seed, jet_id), which makes a jet's noise independent of batching and threads and its
// sample too: bitwise where the BLAS rounds a row alike for any number of rows (MKL on Intel Xeon), to float32
// rounding where it does not (MKL on AMD EPYC: other kernels for 1-3 rows; same cells and counts).
#ifndef GVAE_SIMULATOR_H
#define GVAE_SIMULATOR_H

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <c10/core/Stream.h>

#include "gvae/Hits.h"
#include "gvae/Model.h"
#include "gvae/Producer.h"  // NoiseGenerator, jetSeed

namespace gvae {

/// A generator-level jet to simulate.
struct JetCondition {
  std::uint64_t jet_id = 0;  ///< labels the jet (errors, results, per-jet seeds); any value
  int jet_type = 0;          ///< 0 = QCD light quark/gluon, 1 = hadronic top (gvae.data labels)
  double pt = 0.0;           ///< GeV; outside the contract's trained range throws InvalidInput
  double eta = 0.0;          ///< jet axis; simulated hits are offsets from it (RecoHit x, y)
  double phi = 0.0;
};

struct SimulatorConfig {
  int batch_size = 64;       ///< jets per model call (>= 1, within the artifact's batch range)
  std::uint64_t seed = 0;    ///< per-jet seed base when simulate() gets no generator
  /// With batch_size > 1 and a model that has the `simulate_counts` entry point: simulate() first asks it for every
  /// jet's decoded hit count (prior + count head, no decoding), then decodes the jets in batches
  /// ordered by that count, kSortWindow batches at a time (a `simulate` call pads to its largest
  /// jet). Results stay in input order and each jet's noise is what unsorted batches give it.
  /// Without the entry point (older exports), or false: batches in input order.
  bool sort_by_count = true;
};

/// One simulated jet: hits snapped to detector cells, and per-channel diagnostics.
struct SimulatedJet {
  std::uint64_t jet_id = 0;
  JetCondition condition;
  std::vector<RecoHit> hits;       ///< channel, x/y (eta/phi offsets from the axis), pixel, energy
  std::array<int, 3> counts{};     ///< hits per channel (track, ECAL, HCAL)
  std::array<double, 3> energy{};  ///< GeV per channel
};

class Simulator {
 public:
  /// Batches sorted together by count (bounds the noise held for a call: kSortWindow x batch_size jets).
  static constexpr std::size_t kSortWindow = 16;

  /// Throws ContractError if the model has no `simulate` entry point.
  Simulator(std::shared_ptr<const Model> model, SimulatorConfig config);
  /// One SimulatedJet per condition, same order. Throws InvalidInput naming the jet (index and
  /// jet_id) and field for a bad condition (the whole call fails; no partial results). A caller
  /// generator draws, per batch_size jets in input order, the latent noise [B, C*L] then the count
  /// noise [B, 3] (as python gvae.simulate), whatever order the batches run in.
  /// CUDA: the batches run on `stream` (default: the calling thread's current stream of the model's
  /// device; gvae::newStream / gvae::streamFromCuda in gvae/Cuda.h) under a device guard; the noise
  /// is drawn on the CPU (the same numbers on every device), inputs are staged in pinned host memory
  /// and copied non-blocking, results come back through a pinned buffer, and only `stream` is
  /// synchronised. CPU: `stream` is ignored (a CPU stream or none). A stream of another device
  /// throws InvalidInput before any work (as Producer::produce).
  std::vector<SimulatedJet> simulate(const std::vector<JetCondition>& jets, NoiseGenerator* rng = nullptr,
                                     std::optional<c10::Stream> stream = std::nullopt) const;
  const Model& model() const noexcept { return *model_; }
  std::shared_ptr<const Model> sharedModel() const noexcept { return model_; }
  const SimulatorConfig& config() const noexcept { return config_; }

 private:
  std::shared_ptr<const Model> model_;
  SimulatorConfig config_;
};

}  // namespace gvae

#endif  // GVAE_SIMULATOR_H
