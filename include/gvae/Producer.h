// The producer: hits of many jets in, reconstructed hits per jet out (docs/DESIGN.md 4, 5, 7).
//
//   auto model = gvae::Model::load("model.pt2", gvae::Device::Auto);      // once, shared
//   gvae::ProducerConfig config; config.batch_size = 64;
//   gvae::Producer producer(model, config);                              // per module/stream
//   std::vector<gvae::JetResult> out = producer.produce(jets);            // const, thread-safe
//
// Sampling mode draws the latent noise (standard normal, [C, L] per jet) either from a generator
// owned by the caller (one per stream/thread; never shared between threads without a lock) or,
// when none is passed, from a per-jet generator seeded with jetSeed(config.seed, jet_id): the latter
// makes a jet's noise independent of batching and of which thread runs it (its sample too, bitwise
// where the BLAS rounds a row alike for any number of rows; otherwise to float32 rounding). Nothing global.
//
// produce() = for each batch: prepare() (graphs + normalisation, DESIGN 4-5) -> Model::forward
// -> finish() (inverse normalisation). prepare/finish are public for benchmarks and parity checks.
#ifndef GVAE_PRODUCER_H
#define GVAE_PRODUCER_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

#include "gvae/GraphBuilder.h"
#include "gvae/Hits.h"
#include "gvae/Model.h"

namespace gvae {

/// Deterministic: noise = 0, the reconstruction of the latent mean. Sampling: standard normal noise.
enum class Mode { Deterministic, Sampling };
Mode parseMode(const std::string& name);  ///< "deterministic" | "sampling"
const char* modeName(Mode mode) noexcept;

/// A seeded standard-normal source for the latent noise (LibTorch's CPU generator, so that
/// `torch.Generator().manual_seed(seed)` + `torch.randn` in Python draws the same numbers).
/// Not thread-safe: one per caller/stream.
class NoiseGenerator {
 public:
  explicit NoiseGenerator(std::uint64_t seed);
  /// Standard normal float32 CPU tensor of `shape`.
  at::Tensor normal(at::IntArrayRef shape);
  std::uint64_t seed() const noexcept { return seed_; }

 private:
  std::uint64_t seed_;
  at::Generator generator_;
};

/// The per-jet sampling seed used when produce() gets no generator: splitmix64(seed ^ splitmix64(jet_id)).
std::uint64_t jetSeed(std::uint64_t seed, std::uint64_t jet_id) noexcept;

/// Most hits accepted for one jet; more throws gvae::InvalidInput. 3 x 125 x 125 = one hit per
/// pixel of every channel, the most an image can hold.
inline constexpr std::size_t kMaxHitsPerJet = 3 * 125 * 125;

struct ProducerConfig {
  std::string model_path;          ///< used only by the Producer(ProducerConfig) constructor
  Device device = Device::Cpu;     ///< used only by the Producer(ProducerConfig) constructor
  ModelOptions model_options;      ///< used only by the Producer(ProducerConfig) constructor
  int batch_size = 64;             ///< jets per model call (>= 1)
  Mode mode = Mode::Deterministic;
  std::uint64_t seed = 0;          ///< sampling without a caller generator: per-jet seed base
  /// produce() batches the jets of a call in order of their hit count (results still in input
  /// order, each jet's noise the same as unsorted): a batch runs at the width of its largest jet,
  /// so similar sizes together cost less (1.4-1.5x per jet over 1024 demo jets at batch 64,
  /// benchmarks/results/inference_cpp_sorted.md). A jet's result does not depend on its batch beyond
  /// float rounding. false: batches in input order.
  bool sort_by_size = true;
};

class Producer {
 public:
  /// Share an already loaded model (the normal use: one model, many producers).
  Producer(std::shared_ptr<const Model> model, ProducerConfig config);
  /// Load config.model_path on config.device and own it.
  explicit Producer(ProducerConfig config);

  /// Build graphs (gvae::GraphBuilder, k and max_nodes from the contract), normalise, run the
  /// model in batches of config.batch_size (by hit count when config.sort_by_size), invert the normalisation. Contract v1: one output hit
  /// per graph node. Contract v2: the `reconstruct` entry point's decoded hit set, snapped to
  /// detector cells (gvae/Snap.h); diagnostics carry counts/energy per channel in and out and the
  /// decoder's counts. Sampling draws per jet the latent noise [C,L], then the count noise [3]
  /// (caller generator: [n,C,L] then [n,3] per batch of config.batch_size jets in input order,
  /// whatever the order the batches run in). One JetResult per input jet,
  /// same order. Throws gvae::InvalidInput naming the jet (index and jet_id) and field for bad hits
  /// (the whole call fails; no partial results). `rng` is used in sampling mode only (see the header comment).
  /// CUDA: the batches run on `stream` (default: the calling thread's current stream of the model's
  /// device; gvae::newStream / gvae::streamFromCuda in gvae/Cuda.h) under a device guard; inputs
  /// are staged in pinned host memory and copied non-blocking, results come back through a pinned
  /// buffer, and only `stream` is synchronised. CPU: `stream` is ignored.
  std::vector<JetResult> produce(const std::vector<JetHits>& jets, NoiseGenerator* rng = nullptr,
                                 std::optional<c10::Stream> stream = std::nullopt) const;

  /// Model inputs for jets[0, n) (n >= 1, any n; produce() uses n <= batch_size), CPU tensors
  /// (in pinned memory when the model runs on CUDA):
  /// features f32 [n,N,6], neighbours i64 [n,N,k], mask bool [n,N], noise f32 [n,C,L], and the graphs.
  struct Batch {
    at::Tensor features, neighbours, mask, noise;
    at::Tensor count_noise;  ///< contract v2 only: f32 [n,3]
    std::vector<Graph> graphs;
    std::vector<std::uint64_t> jet_ids;
    std::vector<std::array<int, 3>> counts_in;     ///< input hits per channel, per jet
    std::vector<std::array<double, 3>> energy_in;  ///< input GeV per channel, per jet
  };
  /// `first_index` is the index of jets[0] in the caller's list (error messages only).
  Batch prepare(const JetHits* jets, std::size_t n, NoiseGenerator* rng = nullptr,
                std::size_t first_index = 0) const;
  /// Physical hits from a reconstruction [n,N,3] (any device) of `batch` (contract v1).
  std::vector<JetResult> finish(const Batch& batch, const at::Tensor& reconstruction) const;
  /// Contract v2: snapped hit sets from the `reconstruct` outputs (xyu, channel, hit_mask, counts).
  std::vector<JetResult> finishSets(const Batch& batch, const std::vector<at::Tensor>& outputs) const;

  const Model& model() const noexcept { return *model_; }
  std::shared_ptr<const Model> sharedModel() const noexcept { return model_; }
  const ProducerConfig& config() const noexcept { return config_; }

 private:
  /// Graphs and normalised inputs of jets[rows[0]], jets[rows[1]], ...; noise undefined. Errors
  /// name jet first_index + rows[i].
  Batch prepareRows(const JetHits* jets, const std::vector<std::size_t>& rows, std::size_t first_index) const;
  /// Fills batch.noise / batch.count_noise (deterministic zeros, `rng` draws or per-jet seeds).
  void drawNoise(Batch& batch, NoiseGenerator* rng) const;

  std::shared_ptr<const Model> model_;
  ProducerConfig config_;
  GraphBuilder builder_;
};

}  // namespace gvae

#endif  // GVAE_PRODUCER_H
