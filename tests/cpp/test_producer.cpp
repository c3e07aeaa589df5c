// gvae::Producer on CPU with both formats: result structure and physical ranges, agreement of
// the formats, independence of the batch size, deterministic and sampling modes, and every
// input error (naming the jet and the field).
#include <limits>

#include <ATen/ATen.h>

#include "gvae_test.h"

namespace {

void checkResults(const std::vector<gvae::JetHits>& jets, const std::vector<gvae::JetResult>& results,
                  int maxNodes) {
  GVAE_CHECK(results.size() == jets.size());
  for (std::size_t j = 0; j < results.size() && j < jets.size(); ++j) {
    const gvae::JetResult& r = results[j];
    GVAE_CHECK(r.jet_id == jets[j].jet_id);
    GVAE_CHECK(r.diagnostics.n_nodes >= 0 && r.diagnostics.n_nodes <= maxNodes);
    GVAE_CHECK(r.diagnostics.n_nodes == std::min(r.diagnostics.n_hits, maxNodes));
    GVAE_CHECK(r.hits.size() == static_cast<std::size_t>(r.diagnostics.n_nodes));
    GVAE_CHECK(r.diagnostics.dropped_energy_fraction >= 0.0 && r.diagnostics.dropped_energy_fraction < 1.0);
    GVAE_CHECK((r.diagnostics.n_hits > maxNodes) == (r.diagnostics.dropped_energy_fraction > 0.0));
    GVAE_CHECK(r.diagnostics.total_energy > 0.0);
    for (const gvae::RecoHit& h : r.hits) {
      GVAE_CHECK(h.channel >= 0 && h.channel <= 2);
      GVAE_CHECK(std::isfinite(h.x) && std::isfinite(h.y) && std::isfinite(h.energy));
      GVAE_CHECK(h.energy > 0.f);
      // The one rounding rule (Geometry.h nearestPixel, python gvae.geometry.nearest_pixel), written
      // out here independently: floor(offset / 0.0174 + 62 + 0.5) in double, clamped to [0, 124].
      const auto rule = [](float offset) {
        return static_cast<int>(std::clamp(std::floor(static_cast<double>(offset) / 0.0174 + 62 + 0.5), 0.0, 124.0));
      };
      GVAE_CHECK_MSG(h.ieta == rule(h.x) && h.iphi == rule(h.y),
                     "x " << h.x << " -> ieta " << h.ieta << ", y " << h.y << " -> iphi " << h.iphi);
    }
  }
}

gvae::ProducerConfig config(int batch, gvae::Mode mode = gvae::Mode::Deterministic, std::uint64_t seed = 0) {
  gvae::ProducerConfig c;
  c.batch_size = batch;
  c.mode = mode;
  c.seed = seed;
  return c;
}

template <typename Mutate>
void expectInvalid(const gvae::Producer& producer, Mutate mutate, const std::string& field) {
  std::vector<gvae::JetHits> jets = gvae_test::syntheticJets(5, 7);
  jets[3].jet_id = 4242;
  mutate(jets[3]);
  GVAE_CHECK_THROWS(gvae::InvalidInput, producer.produce(jets), "jet 3", "4242", field);
}

}  // namespace

int main() {
  auto ts = gvae::Model::load(gvae_test::torchscriptPath());
  auto ao = gvae::Model::load(gvae_test::aotiPath());
  const int N = ts->contract().max_nodes;
  const std::vector<gvae::JetHits> jets = gvae_test::syntheticJets(100, 1);

  // Deterministic mode: both formats, several batch sizes, all agree.
  gvae::Producer ts64(ts, config(64)), ao64(ao, config(64));
  const auto ref = ts64.produce(jets);
  checkResults(jets, ref, N);
  int truncated = 0;
  for (const auto& r : ref) truncated += r.diagnostics.n_hits > N;
  GVAE_CHECK_MSG(truncated > 0, "the synthetic jets should exercise truncation");
  const auto aoRef = ao64.produce(jets);
  checkResults(jets, aoRef, N);
  const double formats = gvae_test::maxDifference(aoRef, ref);
  std::cout << "torchscript vs aoti, max |diff| (x, y abs; E rel): " << formats << "\n";
  GVAE_CHECK(formats < 1e-4);
  GVAE_CHECK(gvae_test::identical(ts64.produce(jets), ref));  // repeatable
  for (int bs : {1, 7, 100}) {
    const double dts = gvae_test::maxDifference(gvae::Producer(ts, config(bs)).produce(jets), ref);
    const double dao = gvae_test::maxDifference(gvae::Producer(ao, config(bs)).produce(jets), aoRef);
    std::cout << "batch " << bs << " vs 64: torchscript " << dts << ", aoti " << dao << "\n";
    GVAE_CHECK(dts < 1e-4 && dao < 1e-4);
  }

  // Empty jets (no hits, or only zero-energy hits) give no reconstructed hits and leave the others alone.
  std::vector<gvae::JetHits> withEmpty(jets.begin(), jets.begin() + 5);
  withEmpty[2].hits.clear();
  withEmpty[4].hits = {gvae::Hit{1, 60, 60, 0.f}};
  const auto emptyOut = ts64.produce(withEmpty);
  GVAE_CHECK(emptyOut[2].hits.empty() && emptyOut[2].diagnostics.n_nodes == 0);
  GVAE_CHECK(emptyOut[4].hits.empty());
  GVAE_CHECK(gvae_test::maxDifference({emptyOut[0]}, {ref[0]}) < 1e-5);
  GVAE_CHECK(ts64.produce({}).empty());

  // Sampling: per-jet seeds make a jet's sample independent of batching; the seed matters.
  gvae::Producer s1(ts, config(64, gvae::Mode::Sampling, 99)), s2(ts, config(5, gvae::Mode::Sampling, 99));
  const auto sa = s1.produce(jets), sb = s2.produce(jets);
  checkResults(jets, sa, N);
  GVAE_CHECK(gvae_test::maxDifference(sa, sb) < 1e-4);
  GVAE_CHECK(gvae_test::maxDifference(sa, ref) > 1e-3);
  GVAE_CHECK(gvae_test::maxDifference(gvae::Producer(ts, config(64, gvae::Mode::Sampling, 100)).produce(jets), sa) > 1e-3);
  GVAE_CHECK(gvae_test::maxDifference(gvae::Producer(ao, config(64, gvae::Mode::Sampling, 99)).produce(jets), sa) < 1e-4);
  // Caller-owned generator: same seed, same draws; a consumed generator gives new draws.
  gvae::NoiseGenerator g1(5), g2(5);
  const auto ca = s1.produce(jets, &g1), cb = s1.produce(jets, &g2);
  GVAE_CHECK(gvae_test::identical(ca, cb));
  GVAE_CHECK(gvae_test::maxDifference(s1.produce(jets, &g1), ca) > 1e-3);
  // Caller generator draws are the torch CPU generator's: torch.randn(shape, generator=seeded).
  // Golden values: python -c "import torch; print(torch.randn(2, 3, generator=torch.Generator().manual_seed(5)))"
  // with torch 2.13 (float32, written as hex floats so the comparison is exact).
  gvae::NoiseGenerator g3(5);
  const at::Tensor n1 = g3.normal({2, 3});
  GVAE_CHECK(n1.sizes() == at::IntArrayRef({2, 3}) && n1.scalar_type() == at::kFloat);
  const float torchRandnSeed5[6] = {-0x1.f276a8p-2f, -0x1.35281ap-1f, -0x1.1dbecap-1f,
                                    0x1.55c5bep-1f,  -0x1.944e5ep-3f, 0x1.f15a42p+0f};
  for (int i = 0; i < 6; ++i)
    GVAE_CHECK_MSG(n1.contiguous().data_ptr<float>()[i] == torchRandnSeed5[i], "draw " << i);
  GVAE_CHECK(g3.seed() == 5);
  // The per-jet seed is splitmix64(seed ^ splitmix64(jet_id)) (Producer.h), written out here.
  const auto splitmix = [](std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  GVAE_CHECK(gvae::jetSeed(99, 7) == splitmix(99 ^ splitmix(7)));
  GVAE_CHECK(gvae::jetSeed(1, 2) != gvae::jetSeed(2, 1));
  // Without a caller generator, jet b's noise is NoiseGenerator(jetSeed(seed, jet_id)).normal({C, L}),
  // whatever the batch; with one, the batch's noise is one draw of [B, C, L] from it.
  {
    const int C = ts->contract().clusters, L = ts->contract().latent_dim;
    const gvae::Producer::Batch b = s2.prepare(jets.data() + 10, 3, nullptr, 10);
    for (int i = 0; i < 3; ++i) {
      gvae::NoiseGenerator own(gvae::jetSeed(99, jets[10 + static_cast<std::size_t>(i)].jet_id));
      GVAE_CHECK(b.noise[i].equal(own.normal({C, L})));
    }
    gvae::NoiseGenerator caller(17), copy(17);
    const gvae::Producer::Batch c = s2.prepare(jets.data(), 4, &caller);
    GVAE_CHECK(c.noise.equal(copy.normal({4, C, L})));
    GVAE_CHECK(gvae::Producer(ts, config(4)).prepare(jets.data(), 4).noise.abs().max().item<float>() == 0.f);
  }
  // Rounding rule at halves and at the window edges.
  GVAE_CHECK(gvae::geometry::nearestPixel(0.0) == 62);
  GVAE_CHECK(gvae::geometry::nearestPixel(0.0087) == 63 && gvae::geometry::nearestPixel(-0.0087) == 62);
  GVAE_CHECK(gvae::geometry::nearestPixel(-5.0) == 0 && gvae::geometry::nearestPixel(5.0) == 124);
  GVAE_CHECK(gvae::geometry::nearestPixel(std::nan("")) == 0);

  // Mode parsing and configuration errors.
  GVAE_CHECK(gvae::parseMode("sampling") == gvae::Mode::Sampling);
  GVAE_CHECK_THROWS(gvae::Error, gvae::parseMode("random"), "unknown mode 'random'");
  GVAE_CHECK_THROWS(gvae::Error, gvae::Producer(ts, config(0)), "batch_size");
  GVAE_CHECK_THROWS(gvae::Error, gvae::Producer(nullptr, config(1)), "null");
  gvae::ProducerConfig byPath = config(16);
  byPath.model_path = gvae_test::aotiPath();
  GVAE_CHECK(gvae_test::maxDifference(gvae::Producer(byPath).produce(jets), aoRef) < 1e-4);

  // Every input error names the jet (index and id) and the field.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  expectInvalid(ts64, [&](gvae::JetHits& j) { j.hits[1].energy = nan; }, "'energy'");
  expectInvalid(ts64, [&](gvae::JetHits& j) { j.hits[1].energy = inf; }, "'energy'");
  expectInvalid(ts64, [&](gvae::JetHits& j) { j.hits[1].energy = -inf; }, "'energy'");
  expectInvalid(ts64, [](gvae::JetHits& j) { j.hits[0].energy = -0.5f; }, "'energy'");
  expectInvalid(ts64, [](gvae::JetHits& j) { j.hits[2].ieta = -1; }, "'ieta'");
  expectInvalid(ts64, [](gvae::JetHits& j) { j.hits[2].ieta = 125; }, "'ieta'");
  expectInvalid(ts64, [](gvae::JetHits& j) { j.hits[2].iphi = 125; }, "'iphi'");
  expectInvalid(ts64, [](gvae::JetHits& j) { j.hits[2].iphi = -7; }, "'iphi'");
  expectInvalid(ts64, [](gvae::JetHits& j) { j.hits[2].channel = 3; }, "'channel'");
  expectInvalid(ts64, [](gvae::JetHits& j) { j.hits[2].channel = -1; }, "'channel'");
  expectInvalid(ao64, [](gvae::JetHits& j) { j.hits.assign(gvae::kMaxHitsPerJet + 1, gvae::Hit{0, 1, 1, 1.f}); },
                "'hits'");
  return gvae_test::finish("test_producer");
}
