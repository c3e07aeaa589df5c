// Device selection and stream arguments, the parts a CPU can check: parseDeviceSpec ("cuda:N"),
// ModelOptions::device_index, Auto = the device the model was exported for, and the stream argument
// of forward/produce (a CPU stream is accepted, a stream of another device refused before any work).
// test_cuda.cpp covers the same on a GPU.
#include <torch/cuda.h>

#include "gvae_test.h"

int main() {
  const auto spec = [](const char* s) { return gvae::parseDeviceSpec(s); };
  GVAE_CHECK(spec("cpu").device == gvae::Device::Cpu && spec("cpu").index == -1);
  GVAE_CHECK(spec("auto").device == gvae::Device::Auto);
  GVAE_CHECK(spec("cuda").device == gvae::Device::Cuda && spec("cuda").index == -1);
  GVAE_CHECK(spec("cuda:0").device == gvae::Device::Cuda && spec("cuda:0").index == 0);
  GVAE_CHECK(spec("cuda:13").index == 13);
  for (const char* bad : {"cuda:", "cuda:x", "cuda:-1", "cuda:1a", "gpu", "CUDA", "cuda:123456"})
    GVAE_CHECK_THROWS(gvae::Error, gvae::parseDeviceSpec(bad), "unknown device", bad, "cuda:N");
  GVAE_CHECK_THROWS(gvae::Error, gvae::parseDevice("cuda:1"), "parseDeviceSpec");

  // device_index is for CUDA only; Auto follows the exported device (these test models: cpu).
  gvae::ModelOptions indexed;
  indexed.device_index = 0;
  GVAE_CHECK_THROWS(gvae::Error, gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cpu, indexed),
                    "device_index 0", "CUDA only");
  for (const std::string& path : {gvae_test::torchscriptPath(), gvae_test::aotiPath()}) {
    const auto m = gvae::Model::load(path, gvae::Device::Auto);
    GVAE_CHECK_MSG(m->contract().device == "cpu" && m->device().is_cpu(), path << " exported for cpu, Auto -> "
                                                                                  << m->device().str());
  }
  if (!torch::cuda::is_available()) {
    GVAE_CHECK(gvae::cudaDeviceCount() == 0);
    GVAE_CHECK_THROWS(gvae::DeviceUnavailable, gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cuda),
                      "cuda", "is_available");
    GVAE_CHECK_THROWS(gvae::DeviceUnavailable, gvae::newStream(c10::Device(c10::kCUDA, 0)), "cuda:0", "0 CUDA");
  }

  // Streams on the CPU: the CPU stream is accepted (and changes nothing), a CUDA stream refused.
  const auto model = gvae::Model::load(gvae_test::aotiPath(), gvae::Device::Cpu);
  const std::vector<gvae::JetHits> jets = gvae_test::syntheticJets(20, 9);
  const gvae::Producer producer(model, {});
  const c10::Stream cpuStream = gvae::newStream(model->device());
  GVAE_CHECK(cpuStream == gvae::currentStream(c10::Device(c10::kCPU)));
  GVAE_CHECK(gvae_test::identical(producer.produce(jets, nullptr, cpuStream), producer.produce(jets)));
  const c10::Stream cudaStream(c10::Stream::UNSAFE, c10::Device(c10::kCUDA, 0), 0);  // a value only: never used
  GVAE_CHECK_THROWS(gvae::InvalidInput, producer.produce(jets, nullptr, cudaStream), "Producer::produce",
                    "stream on 'cuda:0'", "'cpu'");
  const gvae::Producer::Batch b = producer.prepare(jets.data(), 4);
  GVAE_CHECK(!b.features.is_pinned());  // pinned staging only for CUDA models
  GVAE_CHECK_THROWS(gvae::InvalidInput, model->forward(b.features, b.neighbours, b.mask, b.noise, cudaStream),
                    "Model::forward", "stream on 'cuda:0'");
  return gvae_test::finish("test_device");
}
