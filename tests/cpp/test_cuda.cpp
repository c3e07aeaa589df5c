// CUDA: the producer on the GPU agrees with the CPU within tolerance (TorchScript moved to CUDA,
// and an AOTInductor package compiled for CUDA when the fixture could make one). Skips (exit
// code 77, reason printed) where LibTorch has no CUDA or no GPU is present.
#include <filesystem>

#include <torch/cuda.h>

#include "gvae_test.h"

int main() {
  if (!torch::cuda::is_available()) {
    std::cout << "SKIP: torch::cuda::is_available() is false (no GPU or CPU-only LibTorch)\n";
    return gvae_test::kSkip;
  }
  const std::vector<gvae::JetHits> jets = gvae_test::syntheticJets(300, 3);
  gvae::ProducerConfig cfg;
  cfg.batch_size = 64;
  const auto cpu = gvae::Producer(gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cpu), cfg).produce(jets);

  auto ts = gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cuda);
  GVAE_CHECK(ts->device().is_cuda());
  GVAE_CHECK(gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Auto)->device().is_cuda());
  const auto gpu = gvae::Producer(ts, cfg).produce(jets);
  const double d = gvae_test::maxDifference(gpu, cpu);
  std::cout << "torchscript cuda vs cpu: max |diff| (x, y abs; E rel) = " << d << "\n";
  GVAE_CHECK(d < 1e-3);

  cfg.mode = gvae::Mode::Sampling;
  cfg.seed = 11;
  const auto cpuS = gvae::Producer(gvae::Model::load(gvae_test::torchscriptPath()), cfg).produce(jets);
  const auto gpuS = gvae::Producer(ts, cfg).produce(jets);
  const double ds = gvae_test::maxDifference(gpuS, cpuS);
  std::cout << "torchscript cuda vs cpu, sampling (noise drawn on CPU): " << ds << "\n";
  GVAE_CHECK(ds < 1e-3);
  cfg.mode = gvae::Mode::Deterministic;

  const std::string cudaPackage = gvae_test::modelDir() + "/tiny_cuda.pt2";
  if (std::filesystem::exists(cudaPackage)) {
    auto ao = gvae::Model::load(cudaPackage, gvae::Device::Auto);
    GVAE_CHECK(ao->device().is_cuda());
    GVAE_CHECK_THROWS(gvae::DeviceUnavailable, gvae::Model::load(cudaPackage, gvae::Device::Cpu), "cuda");
    const auto gpuA = gvae::Producer(ao, cfg).produce(jets);
    const double da = gvae_test::maxDifference(gpuA, cpu);
    std::cout << "aoti cuda vs torchscript cpu: max |diff| = " << da << "\n";
    GVAE_CHECK(da < 1e-3);
  } else {
    std::cout << "note: " << cudaPackage << " missing (the fixture compiles it when CUDA is available); "
              << "AOTInductor CUDA part not run\n";
    GVAE_CHECK_MSG(false, "CUDA is available but the CUDA AOTInductor test package was not produced");
  }
  return gvae_test::finish("test_cuda");
}
