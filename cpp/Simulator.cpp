// gvae::Simulator: generator-level jets -> the model's `simulate` entry point -> snapped hits.
#include "gvae/Simulator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "DeviceScope.h"
#include "gvae/Errors.h"
#include "gvae/Snap.h"

namespace gvae {

namespace {

std::string jetName(std::size_t index, std::uint64_t id) {
  return "jet " + std::to_string(index) + " (jet_id " + std::to_string(id) + ")";
}

}  // namespace

Simulator::Simulator(std::shared_ptr<const Model> model, SimulatorConfig config)
    : model_(std::move(model)), config_(config) {
  if (!model_) throw Error("Simulator: model is null");
  const Contract& c = model_->contract();
  if (!model_->hasEntryPoint("simulate"))
    throw ContractError("Simulator: model '" + model_->path() + "' (contract schema_version " +
                        std::to_string(c.schema_version) + ") has no 'simulate' entry point");
  if (config_.batch_size < c.batch_min || config_.batch_size > c.batch_max)
    throw InvalidInput("Simulator: field 'batch_size': " + std::to_string(config_.batch_size) +
                       " outside the batch range [" + std::to_string(c.batch_min) + ", " +
                       std::to_string(c.batch_max) + "] of '" + model_->path() + "'");
}

std::vector<SimulatedJet> Simulator::simulate(const std::vector<JetCondition>& jets, NoiseGenerator* rng,
                                              std::optional<c10::Stream> stream) const {
  // CUDA: device guard + `stream` for the model call and the copies back (as Producer::produce);
  // a stream of another device is refused here, before any work.
  const detail::DeviceScope scope(model_->device(), stream, "Simulator::simulate");
  const Contract& c = model_->contract();
  // Validate everything first: the whole call fails, no partial results.
  for (std::size_t i = 0; i < jets.size(); ++i) {
    const JetCondition& j = jets[i];
    if (j.jet_type < 0 || j.jet_type >= static_cast<int>(c.types.size()))
      throw InvalidInput(jetName(i, j.jet_id) + ": field 'jet_type': " + std::to_string(j.jet_type) +
                         " is not a type of the model (0.." + std::to_string(c.types.size() - 1) + ")");
    const ConditionType& t = c.types[static_cast<std::size_t>(j.jet_type)];
    if (!(std::isfinite(j.pt) && j.pt >= t.pt_min && j.pt <= t.pt_max))
      throw InvalidInput(jetName(i, j.jet_id) + ": field 'pt': " + std::to_string(j.pt) + " GeV outside the " +
                         t.name + " training range [" + std::to_string(t.pt_min) + ", " + std::to_string(t.pt_max) +
                         "] GeV");
    if (!std::isfinite(j.eta)) throw InvalidInput(jetName(i, j.jet_id) + ": field 'eta': not finite");
    if (!std::isfinite(j.phi)) throw InvalidInput(jetName(i, j.jet_id) + ": field 'phi': not finite");
  }
  const int64_t D = static_cast<int64_t>(c.clusters) * c.latent_dim, S = c.slotCount();
  const std::size_t total = jets.size(), bs = static_cast<std::size_t>(config_.batch_size);
  // batch 1 has nothing to pad: sorting would only add the counts calls
  const bool sortByCount = config_.sort_by_count && bs > 1 && model_->hasEntryPoint("simulate_counts");
  c10::InferenceMode guard;
  // CUDA models: pinned host inputs, so that the copies to the GPU are asynchronous on `stream`.
  const auto host = at::TensorOptions().pinned_memory(scope.cuda());
  auto pinned = [&](at::Tensor t) { return scope.cuda() && !t.is_pinned() ? t.pin_memory() : t; };
  std::vector<SimulatedJet> results(total);
  // Windows of kSortWindow batches (one batch when not sorting): the noise of a window is drawn in
  // input order, batch by batch; its jets then run in batches ordered by their decoded counts.
  const std::size_t window = sortByCount ? kSortWindow * bs : bs;
  for (std::size_t first = 0; first < total; first += window) {
    const std::size_t n = std::min(window, total - first);
    const int64_t W = static_cast<int64_t>(n);
    at::Tensor conditions = at::empty({W, 2}, host.dtype(at::kDouble));
    double* cond = conditions.data_ptr<double>();
    for (std::size_t j = 0; j < n; ++j) {
      cond[2 * j] = static_cast<double>(jets[first + j].jet_type);
      cond[2 * j + 1] = jets[first + j].pt;
    }
    at::Tensor latentNoise, countNoise;
    if (rng != nullptr) {  // same order as python gvae.simulate: per batch, latent [B, D] then counts [B, 3]
      std::vector<at::Tensor> latent, count;
      for (std::size_t s = 0; s < n; s += bs) {
        const int64_t B = static_cast<int64_t>(std::min(bs, n - s));
        latent.push_back(rng->normal({B, D}));
        count.push_back(rng->normal({B, 3}));
      }
      latentNoise = latent.size() == 1 ? latent[0] : at::cat(latent);
      countNoise = count.size() == 1 ? count[0] : at::cat(count);
    } else {
      latentNoise = at::empty({W, D}, at::kFloat);
      countNoise = at::empty({W, 3}, at::kFloat);
      for (int64_t b = 0; b < W; ++b) {
        NoiseGenerator jetRng(jetSeed(config_.seed, jets[first + static_cast<std::size_t>(b)].jet_id));
        latentNoise[b].copy_(jetRng.normal({D}));
        countNoise[b].copy_(jetRng.normal({3}));
      }
    }
    // The order the window's jets run in (positions in the window).
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    const bool reordered = sortByCount && n > bs;
    if (reordered) {
      std::vector<int64_t> count(n);
      for (std::size_t s = 0; s < n; s += bs) {
        const int64_t B = static_cast<int64_t>(std::min(bs, n - s)), at0 = static_cast<int64_t>(s);
        const std::vector<at::Tensor> out = model_->run(
            "simulate_counts",
            {pinned(conditions.narrow(0, at0, B)), pinned(latentNoise.narrow(0, at0, B)),
             pinned(countNoise.narrow(0, at0, B))},
            scope.stream());
        const at::Tensor perJet = scope.toHost(out[0]).to(at::kLong).sum(1).contiguous();
        std::copy_n(perJet.const_data_ptr<int64_t>(), B, count.begin() + at0);
      }
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return count[a] < count[b]; });
    }
    for (std::size_t s = 0; s < n; s += bs) {
      const std::size_t m = std::min(bs, n - s);
      const int64_t B = static_cast<int64_t>(m);
      std::vector<at::Tensor> in;  // rows s .. s + m of the window, in run order
      if (reordered) {
        const at::Tensor index = at::tensor(
            std::vector<int64_t>(order.begin() + static_cast<std::ptrdiff_t>(s), order.begin() + static_cast<std::ptrdiff_t>(s + m)),
            at::kLong);
        for (const at::Tensor* t : {&conditions, &latentNoise, &countNoise}) in.push_back(pinned(t->index_select(0, index)));
      } else {
        for (const at::Tensor* t : {&conditions, &latentNoise, &countNoise})
          in.push_back(pinned(t->narrow(0, static_cast<int64_t>(s), B)));
      }
      std::vector<at::Tensor> out = model_->run("simulate", in, scope.stream());
      const at::Tensor xyu = scope.toHost(out[0]).to(at::kFloat).contiguous();
      const at::Tensor channel = scope.toHost(out[1]).to(at::kLong).contiguous();
      const at::Tensor mask = scope.toHost(out[2]).to(at::kBool).contiguous();
      for (int64_t b = 0; b < B; ++b) {
        const std::size_t index = first + order[s + static_cast<std::size_t>(b)];
        const JetCondition& j = jets[index];
        SimulatedJet& sim = results[index];
        sim.jet_id = j.jet_id;
        sim.condition = j;
        snapJet(c, xyu.const_data_ptr<float>() + b * S * 3, channel.const_data_ptr<int64_t>() + b * S,
                mask.const_data_ptr<bool>() + b * S, S, sim.hits);
        for (const RecoHit& h : sim.hits) {
          ++sim.counts[static_cast<std::size_t>(h.channel)];
          sim.energy[static_cast<std::size_t>(h.channel)] += h.energy;
        }
      }
    }
  }
  return results;
}

}  // namespace gvae
