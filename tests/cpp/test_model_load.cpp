// gvae::Model::load for both formats: format detection, embedded contract, device handling,
// load errors naming the path, tampered or missing contracts, forward input checks.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/cuda.h>

#include "gvae_test.h"

namespace fs = std::filesystem;

namespace {

std::string tempPath(const std::string& name) {
  return (fs::temp_directory_path() / ("gvae_test_model_load_" + std::to_string(::getpid()) + "_" + name)).string();
}

// Copy the zip archive `src` to `dst`, replacing (or, with an empty `contract`, dropping) the
// record `record` -- a model whose embedded contract was edited after export.
void rewriteArchive(const std::string& src, const std::string& dst, const std::string& record,
                    const std::string& contract) {
  caffe2::serialize::PyTorchStreamReader reader(src);
  std::ofstream out(dst, std::ios::binary);
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) {
    out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n));
    return n;
  });
  for (const std::string& name : reader.getAllRecords()) {
    if (name == ".data/version" || name == "version" || name == "byteorder" || name == ".data/serialization_id")
      continue;  // written by the writer itself
    if (name == record) {
      if (!contract.empty()) writer.writeRecord(name, contract.data(), contract.size());
      continue;
    }
    auto [data, size] = reader.getRecord(name);
    writer.writeRecord(name, data.get(), size);
  }
  writer.writeEndOfFile();
}

void checkModel(const std::shared_ptr<const gvae::Model>& model, gvae::ModelFormat format) {
  GVAE_CHECK(model->format() == format);
  GVAE_CHECK(model->device().is_cpu());
  const gvae::Contract& c = model->contract();
  GVAE_CHECK(c.format == gvae::formatName(format));
  GVAE_CHECK(c.k == 4 && c.max_nodes == 64 && c.clusters == 8 && c.latent_dim == 4);

  // forward: shapes and dtypes from the contract, wrong inputs -> InvalidInput.
  const int64_t B = 3;
  at::Tensor f = at::zeros({B, 64, 6});
  at::Tensor nb = at::arange(64, at::kLong).view({1, 64, 1}).expand({B, 64, 4}).contiguous();
  at::Tensor m = at::zeros({B, 64}, at::kBool);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < 10; ++i) {
      m[b][i] = true;
      f[b][i][0] = 0.1f * static_cast<float>(i);
      f[b][i][2] = 0.5f;
      f[b][i][3 + i % 3] = 1.f;
      for (int j = 0; j < 4; ++j) nb[b][i][j] = (i + j + 1) % 10;
    }
  at::Tensor noise = at::zeros({B, 8, 4});
  at::Tensor out = model->forward(f, nb, m, noise);
  GVAE_CHECK(out.sizes() == at::IntArrayRef({B, 64, 3}));
  GVAE_CHECK(out.scalar_type() == at::kFloat);
  GVAE_CHECK(at::isfinite(out.slice(1, 0, 10)).all().item<bool>());
  GVAE_CHECK_THROWS(gvae::InvalidInput, model->forward(f.to(at::kDouble), nb, m, noise), "'features'", "dtype");
  GVAE_CHECK_THROWS(gvae::InvalidInput, model->forward(f, nb.slice(2, 0, 3), m, noise), "'neighbours'", "shape");
  GVAE_CHECK_THROWS(gvae::InvalidInput, model->forward(f, nb, m.to(at::kFloat), noise), "'mask'", "dtype");
  GVAE_CHECK_THROWS(gvae::InvalidInput, model->forward(f, nb, m, at::zeros({B, 8, 5})), "'noise'", "shape");
  GVAE_CHECK_THROWS(gvae::InvalidInput, model->forward(f, nb, m, at::zeros({B + 1, 8, 4})), "'noise'");
}

}  // namespace

int main() {
  const std::string pt = gvae_test::torchscriptPath(), pt2 = gvae_test::aotiPath();

  auto ts = gvae::Model::load(pt, gvae::Device::Cpu);
  checkModel(ts, gvae::ModelFormat::TorchScript);
  gvae::ModelOptions two;
  two.aoti_runners = 2;
  auto ao = gvae::Model::load(pt2, gvae::Device::Cpu, two);
  checkModel(ao, gvae::ModelFormat::AOTInductor);
  GVAE_CHECK(ts->contract().weights_sha256 == ao->contract().weights_sha256);

  // Device selection.
  GVAE_CHECK(gvae::parseDevice("auto") == gvae::Device::Auto);
  GVAE_CHECK_THROWS(gvae::Error, gvae::parseDevice("gpu"), "unknown device 'gpu'");
  if (!torch::cuda::is_available()) {
    GVAE_CHECK_THROWS(gvae::DeviceUnavailable, gvae::Model::load(pt, gvae::Device::Cuda), "cuda", pt);
    GVAE_CHECK(gvae::Model::load(pt, gvae::Device::Auto)->device().is_cpu());
  }
  // A CPU-compiled AOTInductor package never runs on CUDA.
  GVAE_CHECK_THROWS(gvae::DeviceUnavailable, gvae::Model::load(pt2, gvae::Device::Cuda), "cuda");
  GVAE_CHECK(gvae::Model::load(pt2, gvae::Device::Auto)->device().is_cpu());

  // Load errors name the path.
  GVAE_CHECK_THROWS(gvae::ModelLoadError, gvae::Model::load("/nonexistent/model.pt"), "/nonexistent/model.pt");
  const std::string garbage = tempPath("garbage.pt");
  { std::ofstream(garbage) << "this is not a model"; }
  GVAE_CHECK_THROWS(gvae::ModelLoadError, gvae::Model::load(garbage), garbage, "not a zip archive");
  const std::string truncated = tempPath("truncated.pt2");
  {
    std::ifstream in(pt2, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  GVAE_CHECK_THROWS(gvae::ModelLoadError, gvae::Model::load(truncated), truncated);

  // Tampered and missing contracts.
  std::string contract;
  {
    caffe2::serialize::PyTorchStreamReader reader(pt);
    auto [data, size] = reader.getRecord("extra/contract.json");
    contract.assign(static_cast<const char*>(data.get()), size);
  }
  const std::string tampered = tempPath("tampered.pt");
  std::string bad = contract;
  const auto pos = bad.find("gvae-graph-v1", bad.find("\"builder\""));
  GVAE_CHECK(pos != std::string::npos);
  bad.replace(pos, 13, "gvae-graph-v9");
  rewriteArchive(pt, tampered, "extra/contract.json", bad);
  GVAE_CHECK_THROWS(gvae::ContractError, gvae::Model::load(tampered), tampered, "/graph/builder", "gvae-graph-v9");

  const std::string wrongFormat = tempPath("wrongformat.pt");
  std::string aotiClaim = contract;
  aotiClaim.replace(aotiClaim.find("\"torchscript\""), 13, "\"aoti\"");
  rewriteArchive(pt, wrongFormat, "extra/contract.json", aotiClaim);
  GVAE_CHECK_THROWS(gvae::ContractError, gvae::Model::load(wrongFormat), "/model/format", "TorchScript archive");

  const std::string noContract = tempPath("nocontract.pt");
  rewriteArchive(pt, noContract, "extra/contract.json", "");
  GVAE_CHECK_THROWS(gvae::ContractError, gvae::Model::load(noContract), noContract, "contract.json");

  for (const std::string& p : {garbage, truncated, tampered, wrongFormat, noContract}) std::remove(p.c_str());
  return gvae_test::finish("test_model_load");
}
