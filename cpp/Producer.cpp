// gvae::Producer: hits -> graphs -> normalised model inputs -> model -> physical hits.
#include "gvae/Producer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include "DeviceScope.h"
#include "gvae/Errors.h"
#include "gvae/Geometry.h"
#include "gvae/Snap.h"

namespace gvae {

Mode parseMode(const std::string& name) {
  if (name == "deterministic") return Mode::Deterministic;
  if (name == "sampling") return Mode::Sampling;
  throw Error("unknown mode '" + name + "' (expected deterministic or sampling)");
}

const char* modeName(Mode mode) noexcept { return mode == Mode::Sampling ? "sampling" : "deterministic"; }

namespace {

std::uint64_t splitmix64(std::uint64_t z) noexcept {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t jetSeed(std::uint64_t seed, std::uint64_t jet_id) noexcept {
  return splitmix64(seed ^ splitmix64(jet_id));
}

NoiseGenerator::NoiseGenerator(std::uint64_t seed)
    : seed_(seed), generator_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

at::Tensor NoiseGenerator::normal(at::IntArrayRef shape) {
  c10::InferenceMode guard;
  return at::randn(shape, generator_, at::TensorOptions().dtype(at::kFloat));
}

Producer::Producer(std::shared_ptr<const Model> model, ProducerConfig config)
    : model_(std::move(model)),
      config_(std::move(config)),
      builder_([this] {
        if (!model_) throw Error("Producer: model is null");
        if (config_.batch_size < 1)
          throw Error("Producer: batch_size must be >= 1, got " + std::to_string(config_.batch_size));
        const Contract& c = model_->contract();
        if (c.schema_version >= Contract::kSchemaVersionV2) {
          if (!model_->hasEntryPoint("reconstruct"))
            throw ContractError("Producer: model '" + model_->path() + "' has no 'reconstruct' entry point");
          if (config_.batch_size < c.batch_min || config_.batch_size > c.batch_max)
            throw InvalidInput("Producer: field 'batch_size': " + std::to_string(config_.batch_size) +
                               " outside the batch range [" + std::to_string(c.batch_min) + ", " +
                               std::to_string(c.batch_max) + "] of '" + model_->path() + "'");
        }
        GraphConfig g;
        g.k = model_->contract().k;
        g.max_nodes = model_->contract().max_nodes;
        return g;
      }()) {}

Producer::Producer(ProducerConfig config)
    : Producer(Model::load(config.model_path, config.device, config.model_options), config) {}

Producer::Batch Producer::prepare(const JetHits* jets, std::size_t n, NoiseGenerator* rng,
                                  std::size_t first_index) const {
  if (n == 0) throw Error("Producer::prepare: no jets");
  std::vector<std::size_t> rows(n);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  Batch batch = prepareRows(jets, rows, first_index);
  drawNoise(batch, rng);
  return batch;
}

Producer::Batch Producer::prepareRows(const JetHits* jets, const std::vector<std::size_t>& rows,
                                      std::size_t first_index) const {
  const Contract& c = model_->contract();
  const std::size_t n = rows.size();
  const int64_t N = c.max_nodes, K = c.k, B = static_cast<int64_t>(n);
  Batch batch;
  batch.graphs.reserve(n);
  batch.jet_ids.reserve(n);
  for (const std::size_t row : rows) {
    const JetHits& jet = jets[row];
    const std::size_t index = first_index + row;
    if (jet.hits.size() > kMaxHitsPerJet)
      throw InvalidInput("jet " + std::to_string(index) + " (jet_id " + std::to_string(jet.jet_id) +
                         "): field 'hits': " + std::to_string(jet.hits.size()) + " hits, more than the limit " +
                         std::to_string(kMaxHitsPerJet));
    try {
      batch.graphs.push_back(builder_.build(jet.hits, static_cast<long>(index)));
    } catch (const InvalidInput& e) {
      throw InvalidInput(std::string(e.what()) + " (jet_id " + std::to_string(jet.jet_id) + ")");
    }
    batch.jet_ids.push_back(jet.jet_id);
    std::array<int, 3> counts{};
    std::array<double, 3> energy{};
    for (const Hit& h : jet.hits) {  // channels were checked by the graph builder
      ++counts[static_cast<std::size_t>(h.channel)];
      energy[static_cast<std::size_t>(h.channel)] += h.energy;
    }
    batch.counts_in.push_back(counts);
    batch.energy_in.push_back(energy);
  }

  c10::InferenceMode guard;
  // CUDA models: pinned host tensors, so that Model::forward's copies to the GPU are asynchronous.
  const auto host = at::TensorOptions().pinned_memory(model_->device().is_cuda());
  batch.features = at::zeros({B, N, 6}, host.dtype(at::kFloat));
  batch.neighbours = at::empty({B, N, K}, host.dtype(at::kLong));
  batch.mask = at::empty({B, N}, host.dtype(at::kBool));
  float* f = batch.features.data_ptr<float>();
  int64_t* nb = batch.neighbours.data_ptr<int64_t>();
  bool* m = batch.mask.data_ptr<bool>();
  // DESIGN section 5: (x', y', u', is_track, is_ecal, is_hcal); padding rows all zero.
  for (int64_t b = 0; b < B; ++b) {
    const Graph& g = batch.graphs[static_cast<std::size_t>(b)];
    std::memcpy(nb + b * N * K, g.neighbours.data(), sizeof(int64_t) * N * K);
    for (int64_t i = 0; i < N; ++i) m[b * N + i] = g.mask[i] != 0;
    for (int64_t i = 0; i < g.n_nodes; ++i) {
      const float* in = &g.features[i * 4];
      float* out = f + (b * N + i) * 6;
      out[0] = static_cast<float>((static_cast<double>(in[0]) - c.x.mean) / c.x.std);
      out[1] = static_cast<float>((static_cast<double>(in[1]) - c.y.mean) / c.y.std);
      out[2] = static_cast<float>((std::log(static_cast<double>(in[2])) - c.log_energy.mean) / c.log_energy.std);
      const int channel = static_cast<int>(in[3]);
      out[3 + channel] = 1.f;
    }
  }
  return batch;
}

void Producer::drawNoise(Batch& batch, NoiseGenerator* rng) const {
  const Contract& c = model_->contract();
  const int64_t B = static_cast<int64_t>(batch.jet_ids.size());
  const bool v2 = c.schema_version >= Contract::kSchemaVersionV2;
  c10::InferenceMode guard;
  if (config_.mode == Mode::Deterministic) {
    batch.noise = at::zeros({B, c.clusters, c.latent_dim}, at::kFloat);
    if (v2) batch.count_noise = at::zeros({B, 3}, at::kFloat);
  } else if (rng != nullptr) {
    batch.noise = rng->normal({B, c.clusters, c.latent_dim});
    if (v2) batch.count_noise = rng->normal({B, 3});
  } else {
    batch.noise = at::empty({B, c.clusters, c.latent_dim}, at::kFloat);
    if (v2) batch.count_noise = at::empty({B, 3}, at::kFloat);
    for (int64_t b = 0; b < B; ++b) {
      NoiseGenerator jetRng(jetSeed(config_.seed, batch.jet_ids[static_cast<std::size_t>(b)]));
      batch.noise[b].copy_(jetRng.normal({c.clusters, c.latent_dim}));
      if (v2) batch.count_noise[b].copy_(jetRng.normal({3}));
    }
  }
}

std::vector<JetResult> Producer::finish(const Batch& batch, const at::Tensor& reconstruction) const {
  const Contract& c = model_->contract();
  const int64_t N = c.max_nodes;
  const std::size_t B = batch.graphs.size();
  c10::InferenceMode guard;
  at::Tensor rec = reconstruction.to(at::kCPU, at::kFloat).contiguous();
  if (rec.dim() != 3 || rec.size(0) != static_cast<int64_t>(B) || rec.size(1) != N || rec.size(2) != 3)
    throw Error("Producer::finish: reconstruction of shape " + c10::str(rec.sizes()) + " for " +
                std::to_string(B) + " jets");
  const float* r = rec.data_ptr<float>();
  std::vector<JetResult> results(B);
  for (std::size_t b = 0; b < B; ++b) {
    const Graph& g = batch.graphs[b];
    JetResult& out = results[b];
    out.jet_id = batch.jet_ids[b];
    out.diagnostics.n_nodes = g.n_nodes;
    out.diagnostics.n_hits = g.n_hits;
    out.diagnostics.total_energy = g.total_energy;
    out.diagnostics.dropped_energy_fraction = g.dropped_energy_fraction;
    out.diagnostics.counts_in = batch.counts_in[b];
    out.diagnostics.energy_in = batch.energy_in[b];
    out.hits.resize(static_cast<std::size_t>(g.n_nodes));
    for (int i = 0; i < g.n_nodes; ++i) {
      const float* o = r + (static_cast<int64_t>(b) * N + i) * 3;
      RecoHit& h = out.hits[static_cast<std::size_t>(i)];
      h.channel = static_cast<int>(g.features[static_cast<std::size_t>(i) * 4 + 3]);
      h.x = static_cast<float>(static_cast<double>(o[0]) * c.x.std + c.x.mean);
      h.y = static_cast<float>(static_cast<double>(o[1]) * c.y.std + c.y.mean);
      h.energy = static_cast<float>(std::exp(static_cast<double>(o[2]) * c.log_energy.std + c.log_energy.mean));
      h.ieta = geometry::nearestPixel(h.x);
      h.iphi = geometry::nearestPixel(h.y);
      ++out.diagnostics.counts_out[static_cast<std::size_t>(h.channel)];
      out.diagnostics.energy_out[static_cast<std::size_t>(h.channel)] += h.energy;
    }
  }
  return results;
}

std::vector<JetResult> Producer::finishSets(const Batch& batch, const std::vector<at::Tensor>& outputs) const {
  const Contract& c = model_->contract();
  const std::size_t B = batch.graphs.size();
  const int64_t S = c.slotCount();
  if (outputs.size() != 4) throw Error("Producer::finishSets: expected 4 outputs (xyu, channel, hit_mask, counts)");
  c10::InferenceMode guard;
  const at::Tensor xyu = outputs[0].to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor channel = outputs[1].to(at::kCPU, at::kLong).contiguous();
  const at::Tensor mask = outputs[2].to(at::kCPU, at::kBool).contiguous();
  const at::Tensor counts = outputs[3].to(at::kCPU, at::kLong).contiguous();
  if (xyu.size(0) != static_cast<int64_t>(B) || xyu.size(1) != S)
    throw Error("Producer::finishSets: xyu of shape " + c10::str(xyu.sizes()) + " for " + std::to_string(B) + " jets");
  std::vector<JetResult> results(B);
  for (std::size_t b = 0; b < B; ++b) {
    const Graph& g = batch.graphs[b];
    JetResult& out = results[b];
    out.jet_id = batch.jet_ids[b];
    JetDiagnostics& d = out.diagnostics;
    d.n_nodes = g.n_nodes;
    d.n_hits = g.n_hits;
    d.total_energy = g.total_energy;
    d.dropped_energy_fraction = g.dropped_energy_fraction;
    d.counts_in = batch.counts_in[b];
    d.energy_in = batch.energy_in[b];
    const int64_t row = static_cast<int64_t>(b);
    snapJet(c, xyu.const_data_ptr<float>() + row * S * 3, channel.const_data_ptr<int64_t>() + row * S,
            mask.const_data_ptr<bool>() + row * S, S, out.hits);
    for (int ch = 0; ch < 3; ++ch) d.decoded[ch] = static_cast<int>(counts.const_data_ptr<int64_t>()[row * 3 + ch]);
    for (const RecoHit& h : out.hits) {
      ++d.counts_out[static_cast<std::size_t>(h.channel)];
      d.energy_out[static_cast<std::size_t>(h.channel)] += h.energy;
    }
  }
  return results;
}

std::vector<JetResult> Producer::produce(const std::vector<JetHits>& jets, NoiseGenerator* rng,
                                        std::optional<c10::Stream> stream) const {
  // CUDA: device guard + `stream` for the forward and the copy back (a copy on any other stream
  // would not wait for the model's kernels).
  const detail::DeviceScope scope(model_->device(), stream, "Producer::produce");
  const Contract& c = model_->contract();
  const std::size_t total = jets.size(), bs = static_cast<std::size_t>(config_.batch_size);
  // The order the jets run in: by hit count (stable, so equal sizes keep their input order).
  std::vector<std::size_t> order(total);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (config_.sort_by_size)
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return jets[a].hits.size() < jets[b].hits.size(); });
  // A caller generator's noise is drawn as unsorted batches would draw it ([n,C,L] then [n,3] per
  // batch of input order), so that every jet gets the same noise whatever the order.
  at::Tensor noise, countNoise;
  const bool v2 = c.schema_version >= Contract::kSchemaVersionV2;
  if (config_.mode == Mode::Sampling && rng != nullptr && config_.sort_by_size) {
    c10::InferenceMode guard;
    std::vector<at::Tensor> latent, count;
    for (std::size_t start = 0; start < total; start += bs) {
      const int64_t n = static_cast<int64_t>(std::min(bs, total - start));
      latent.push_back(rng->normal({n, c.clusters, c.latent_dim}));
      if (v2) count.push_back(rng->normal({n, 3}));
    }
    noise = at::cat(latent);
    if (v2) countNoise = at::cat(count);
  }
  std::vector<JetResult> results(total);
  for (std::size_t start = 0; start < total; start += bs) {
    const std::vector<std::size_t> rows(order.begin() + static_cast<std::ptrdiff_t>(start),
                                        order.begin() + static_cast<std::ptrdiff_t>(std::min(start + bs, total)));
    Batch batch = prepareRows(jets.data(), rows, 0);
    if (noise.defined()) {
      c10::InferenceMode guard;
      const at::Tensor index = at::tensor(std::vector<int64_t>(rows.begin(), rows.end()), at::kLong);
      batch.noise = noise.index_select(0, index);
      if (v2) batch.count_noise = countNoise.index_select(0, index);
    } else {
      drawNoise(batch, rng);
    }
    std::vector<JetResult> part;
    if (batch.count_noise.defined()) {
      std::vector<at::Tensor> outs = model_->run(
          "reconstruct", {batch.features, batch.neighbours, batch.mask, batch.noise, batch.count_noise}, scope.stream());
      for (at::Tensor& t : outs) t = scope.toHost(t);
      part = finishSets(batch, outs);
    } else {
      part = finish(batch, scope.toHost(model_->forward(batch.features, batch.neighbours, batch.mask, batch.noise,
                                                         scope.stream())));
    }
    for (std::size_t i = 0; i < rows.size(); ++i) results[rows[i]] = std::move(part[i]);
  }
  return results;
}

}  // namespace gvae
