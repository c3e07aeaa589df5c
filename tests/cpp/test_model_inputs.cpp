// gvae::Model::forward validates its inputs against the contract before running either format
// (issue 12, "the abort"): a neighbour index outside [0, N) used to call std::terminate inside the
// AOTInductor OpenMP kernel (exit 134) and raised a bare RuntimeError in TorchScript; NaN/Inf
// features ran through silently. Each case must now throw gvae::InvalidInput naming the batch row
// and the field, leave the model usable, and a valid batch must give the same output as before.
// A regression in the AOTInductor neighbour case aborts this executable (ctest reports it failed).
#include <limits>

#include <ATen/ATen.h>

#include "gvae_test.h"

namespace {

struct Inputs {
  at::Tensor features, neighbours, mask, noise;
};

Inputs validBatch(const std::shared_ptr<const gvae::Model>& model, std::size_t n) {
  gvae::Producer producer(model, gvae::ProducerConfig{});
  const auto jets = gvae_test::syntheticJets(n, 11);
  gvae::Producer::Batch b = producer.prepare(jets.data(), jets.size());
  return {b.features, b.neighbours, b.mask, b.noise};
}

void checkFormat(const std::string& path) {
  std::cout << "== " << path << "\n";
  const auto model = gvae::Model::load(path);
  const int64_t N = model->contract().max_nodes;
  const Inputs in = validBatch(model, 5);
  const at::Tensor reference = model->forward(in.features, in.neighbours, in.mask, in.noise);
  GVAE_CHECK(reference.size(0) == 5 && at::isfinite(reference).all().item<bool>());

  const auto forward = [&](const Inputs& x) { return model->forward(x.features, x.neighbours, x.mask, x.noise); };
  const auto copy = [&] { return Inputs{in.features.clone(), in.neighbours.clone(), in.mask.clone(), in.noise.clone()}; };

  // Neighbour index == N (the AOTI abort), negative, far outside, and on a padding row.
  for (int64_t bad : {N, int64_t{-1}, int64_t{1} << 40, std::numeric_limits<int64_t>::min()}) {
    Inputs x = copy();
    x.neighbours[3][5][2] = bad;
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), path, "batch row 3", "field 'neighbours'", "node 5, slot 2",
                      "index " + std::to_string(bad), "outside [0, " + std::to_string(N) + ")");
  }
  {
    Inputs x = copy();
    x.neighbours[1][N - 1][0] = N + 3;  // the last node of every tiny-model row is padding or real: checked either way
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "batch row 1", "node " + std::to_string(N - 1) + ", slot 0");
  }
  // The first bad row is reported when several are bad.
  {
    Inputs x = copy();
    x.neighbours[4][0][0] = -5;
    x.neighbours[2][9][1] = N;
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "batch row 2", "node 9, slot 1");
  }
  // Non-finite features: NaN, +Inf, -Inf in each kind of column, on real and padding rows.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const struct { int64_t row, node, col; float value; const char* name; } featureCases[] = {
      {2, 7, 2, nan, "'log_energy'"}, {0, 0, 0, inf, "'x'"}, {4, 1, 1, -inf, "'y'"},
      {1, N - 1, 5, nan, "'is_hcal'"}};
  for (const auto& fc : featureCases) {
    Inputs x = copy();
    x.features[fc.row][fc.node][fc.col] = fc.value;
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "batch row " + std::to_string(fc.row), "field 'features'",
                      "node " + std::to_string(fc.node), fc.name, "not finite");
  }
  // Non-finite noise (sampling mode input).
  {
    Inputs x = copy();
    x.noise[3][1][2] = nan;
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "batch row 3", "field 'noise'", "cluster 1, dimension 2");
  }
  // Mask: wrong shape (node axis, batch axis, missing axis) and dtype.
  {
    Inputs x = copy();
    x.mask = in.mask.slice(1, 0, N - 1);
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "field 'mask'", "shape [5, " + std::to_string(N - 1) + "]",
                      "expected [5, " + std::to_string(N) + "]");
    x.mask = at::ones({6, N}, at::kBool);
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "field 'mask'", "shape [6, " + std::to_string(N) + "]");
    x.mask = in.mask[0];
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "field 'mask'", "shape [" + std::to_string(N) + "]");
    x.mask = in.mask.to(at::kFloat);
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "field 'mask'", "dtype");
  }
  // Other shapes and dtypes, and an empty batch.
  {
    Inputs x = copy();
    x.neighbours = in.neighbours.to(at::kInt);
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "field 'neighbours'", "dtype");
    x = copy();
    x.features = in.features.slice(0, 0, 0);
    GVAE_CHECK_THROWS(gvae::InvalidInput, forward(x), "field 'features'", "B >= 1");
  }
  // The model is unharmed, and a valid non-contiguous view is accepted and gives the same result.
  GVAE_CHECK(at::equal(forward(in), reference));
  const at::Tensor fT = in.features.transpose(0, 1).contiguous().transpose(0, 1);
  GVAE_CHECK(!fT.is_contiguous());
  GVAE_CHECK(at::equal(model->forward(fT, in.neighbours, in.mask, in.noise), reference));
  // The public check alone accepts the valid batch and refuses a bad one the same way.
  gvae::validateInputs(model->contract(), in.features, in.neighbours, in.mask, in.noise, "direct");
  Inputs x = copy();
  x.neighbours[0][0][0] = N;
  GVAE_CHECK_THROWS(gvae::InvalidInput,
                    gvae::validateInputs(model->contract(), x.features, x.neighbours, x.mask, x.noise, "direct"),
                    "direct: batch row 0, field 'neighbours'");
}

}  // namespace

int main() {
  checkFormat(gvae_test::torchscriptPath());
  checkFormat(gvae_test::aotiPath());
  return gvae_test::finish("test_model_inputs");
}
