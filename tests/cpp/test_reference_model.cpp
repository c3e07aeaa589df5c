// The committed reference model (export/reference/, demo architecture: 400 nodes, k = 8, latent
// 50 x 16) through libgvae: both formats load with their contracts, reconstruct the 16 held-out
// generated jets of export/reference/heldout.gvh with finite physical hits, and agree.
// Skips (77) with the reason when the reference files are absent.
#include <filesystem>

#include "gvae_test.h"

int main() {
  const char* src = std::getenv("GVAE_SOURCE_DIR");
  const std::string dir = std::string(src ? src : ".") + "/export/reference";
  const std::string pt = dir + "/gvae_reference.pt", pt2 = dir + "/gvae_reference.pt2", gvh = dir + "/heldout.gvh";
  for (const std::string& f : {pt, pt2, gvh}) {
    if (!std::filesystem::exists(f)) {
      std::cout << "SKIP: reference file " << f << " is missing (python -m gvae.export --reference writes it)\n";
      return gvae_test::kSkip;
    }
  }
  const std::vector<gvae::JetHits> jets = gvae_test::readGvh(gvh);
  GVAE_CHECK(!jets.empty());
  auto ts = gvae::Model::load(pt), ao = gvae::Model::load(pt2);
  GVAE_CHECK(ts->contract().max_nodes == 400 && ts->contract().k == 8);
  GVAE_CHECK(ts->contract().clusters == 50 && ts->contract().latent_dim == 16);
  GVAE_CHECK(ts->contract().weights_sha256 == ao->contract().weights_sha256);
  gvae::ProducerConfig cfg;
  cfg.batch_size = 7;
  const auto a = gvae::Producer(ts, cfg).produce(jets);
  const auto b = gvae::Producer(ao, cfg).produce(jets);
  GVAE_CHECK(a.size() == jets.size());
  std::size_t hits = 0;
  double input = 0.0, reco = 0.0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    GVAE_CHECK(a[j].hits.size() == static_cast<std::size_t>(a[j].diagnostics.n_nodes));
    GVAE_CHECK(a[j].diagnostics.n_nodes > 0);
    for (const auto& h : a[j].hits) {
      GVAE_CHECK(std::isfinite(h.x) && std::isfinite(h.y) && std::isfinite(h.energy) && h.energy > 0.f);
      reco += h.energy;
    }
    for (const auto& h : jets[j].hits) input += h.energy;
    hits += a[j].hits.size();
  }
  const double d = gvae_test::maxDifference(a, b);
  std::cout << jets.size() << " held-out jets, " << hits << " reconstructed hits; input energy " << input
            << " GeV, reconstructed " << reco << " GeV; torchscript vs aoti max |diff| " << d << "\n";
  GVAE_CHECK(d < 1e-4);
  return gvae_test::finish("test_reference_model");
}
