// CUDA: several threads share one model on the GPU, each on its own stream, and every result agrees
// with the CPU: contract v1 (Producer on tiny*) and contract v2 (Producer::produce and
// Simulator::simulate with a stream argument on tiny_latent*, see multiStreamV2); device selection (cuda:N, Auto = the exported device), device/stream guards
// (the caller's current device and stream are restored), pinned staging. Both formats: TorchScript
// (tiny.pt moved to CUDA, tiny_cuda.pt exported for CUDA) and the AOTInductor package compiled for
// CUDA (tiny_cuda.pt2, written by the fixture when torch sees a GPU). Skips (exit code 77, reason
// printed) where LibTorch has no CUDA or no GPU is present.
#include <filesystem>
#include <thread>

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/cuda.h>

#include "gvae_test.h"

namespace {

constexpr int kThreads = 4;
constexpr std::size_t kJetsPerThread = 150;

// Runs body(t, stream) on kThreads threads sharing `model`, each on its own stream (gvae::newStream);
// checks that no thread threw and that each thread's current stream was restored by the guards.
template <class Body>
void onOwnStreams(const std::shared_ptr<const gvae::Model>& model, const char* name, Body body) {
  std::vector<std::string> errors(kThreads);
  std::vector<int> streamRestored(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        const c10::Stream stream = gvae::newStream(model->device());
        const c10::Stream before = gvae::currentStream(model->device());
        body(t, stream);
        streamRestored[t] = gvae::currentStream(model->device()) == before;
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    GVAE_CHECK_MSG(errors[t].empty(), name << " thread " << t << ": " << errors[t]);
    GVAE_CHECK_MSG(!errors[t].empty() || streamRestored[t], name << " thread " << t << ": current stream not restored");
  }
}

// Every thread: its own Producer and stream over the shared model; all agree with the CPU.
void multiStream(const std::shared_ptr<const gvae::Model>& model, gvae::ProducerConfig cfg,
                 const std::vector<std::vector<gvae::JetHits>>& inputs,
                 const std::vector<std::vector<gvae::JetResult>>& cpu, const char* name) {
  std::vector<std::vector<gvae::JetResult>> out(kThreads);
  onOwnStreams(model, name, [&](int t, const c10::Stream& stream) {
    out[t] = gvae::Producer(model, cfg).produce(inputs[t], nullptr, stream);
  });
  double worst = 0.0;
  for (int t = 0; t < kThreads; ++t) {
    const double d = gvae_test::maxDifference(out[t], cpu[t]);
    worst = std::max(worst, d);
    GVAE_CHECK_MSG(d < 1e-3, name << " thread " << t << ": max |cuda - cpu| = " << d);
  }
  std::cout << name << ": " << kThreads << " threads x " << kJetsPerThread << " jets, own streams, "
            << gvae::modeName(cfg.mode) << ": max |cuda - cpu| (x, y abs; E rel) = " << worst << "\n";
}

// Contract v2 (latent decoder): decoded sets are snapped to detector cells in float64 on the host, so
// a ~1e-6 difference between the CPU and CUDA kernels can move a hit across a cell edge or a readout
// threshold. Per jet and channel: counts within one hit, energy within 1% + 0.05 GeV; over all jets
// at most 1% of the hits moved. Returns the fraction moved.
double setDifference(const std::vector<std::array<int, 3>>& counts, const std::vector<std::array<double, 3>>& energy,
                     const std::vector<std::array<int, 3>>& refCounts,
                     const std::vector<std::array<double, 3>>& refEnergy, const std::string& what) {
  GVAE_CHECK_MSG(counts.size() == refCounts.size(), what << ": " << counts.size() << " jets vs " << refCounts.size());
  int hits = 0, moved = 0;
  for (std::size_t j = 0; j < counts.size() && j < refCounts.size(); ++j)
    for (std::size_t ch = 0; ch < 3; ++ch) {
      hits += refCounts[j][ch];
      moved += std::abs(counts[j][ch] - refCounts[j][ch]);
      GVAE_CHECK_MSG(std::abs(counts[j][ch] - refCounts[j][ch]) <= 1, what << " jet " << j << " channel " << ch);
      GVAE_CHECK_MSG(std::abs(energy[j][ch] - refEnergy[j][ch]) <= 0.01 * refEnergy[j][ch] + 0.05,
                     what << " jet " << j << " channel " << ch << ": " << energy[j][ch] << " vs cpu " << refEnergy[j][ch]);
    }
  GVAE_CHECK_MSG(hits > 0, what << ": no hits on the CPU");
  GVAE_CHECK_MSG(moved <= 0.01 * hits, what << ": " << moved << " of " << hits << " hits differ from the CPU");
  return hits > 0 ? static_cast<double>(moved) / hits : 0.0;
}

struct SetSummary {
  std::vector<std::array<int, 3>> counts;
  std::vector<std::array<double, 3>> energy;
};
SetSummary summarise(const std::vector<gvae::JetResult>& r) {
  SetSummary s;
  for (const auto& j : r) {
    s.counts.push_back(j.diagnostics.counts_out);
    s.energy.push_back(j.diagnostics.energy_out);
  }
  return s;
}
SetSummary summarise(const std::vector<gvae::SimulatedJet>& r) {
  SetSummary s;
  for (const auto& j : r) {
    s.counts.push_back(j.counts);
    s.energy.push_back(j.energy);
  }
  return s;
}

// Contract v2: every thread reconstructs (Producer, sampling with per-jet seeds: the noise is drawn on
// the CPU) and simulates (Simulator, per-jet seeds) on its own stream over the shared model; the
// thread's current stream is restored; results agree with the CPU.
void multiStreamV2(const std::shared_ptr<const gvae::Model>& model, const gvae::ProducerConfig& pcfg,
                   const gvae::SimulatorConfig& scfg, const std::vector<std::vector<gvae::JetHits>>& inputs,
                   const std::vector<std::vector<gvae::JetCondition>>& conditions,
                   const std::vector<SetSummary>& cpuReco, const std::vector<SetSummary>& cpuSim, const char* name) {
  std::vector<SetSummary> reco(kThreads), sim(kThreads);
  onOwnStreams(model, name, [&](int t, const c10::Stream& stream) {
    reco[t] = summarise(gvae::Producer(model, pcfg).produce(inputs[t], nullptr, stream));
    sim[t] = summarise(gvae::Simulator(model, scfg).simulate(conditions[t], nullptr, stream));
  });
  double worstReco = 0.0, worstSim = 0.0;
  for (int t = 0; t < kThreads; ++t) {
    const std::string tag = std::string(name) + " thread " + std::to_string(t);
    worstReco = std::max(worstReco, setDifference(reco[t].counts, reco[t].energy, cpuReco[t].counts,
                                                  cpuReco[t].energy, tag + " reconstruct"));
    worstSim = std::max(worstSim, setDifference(sim[t].counts, sim[t].energy, cpuSim[t].counts, cpuSim[t].energy,
                                                tag + " simulate"));
  }
  std::cout << name << ": " << kThreads << " threads x (" << kJetsPerThread << " reconstructed + "
            << kJetsPerThread << " simulated jets), own streams: hits moved vs cpu " << worstReco
            << " (reconstruct), " << worstSim << " (simulate)\n";
}

std::vector<gvae::JetCondition> jetConditions(const gvae::Contract& c, std::size_t n, std::uint64_t first_id) {
  std::vector<gvae::JetCondition> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& type = c.types[i % c.types.size()];
    out[i].jet_id = first_id + i;
    out[i].jet_type = static_cast<int>(i % c.types.size());
    out[i].pt = type.pt_min + (type.pt_max - type.pt_min) * static_cast<double>(i % 97) / 96.0;
    out[i].eta = 0.05 * static_cast<double>(i % 11);
  }
  return out;
}

// The v2 part: tiny_latent.pt moved to CUDA and the latent model exported for CUDA (tiny_latent_cuda.pt/.pt2).
void latentModels(const std::vector<std::vector<gvae::JetHits>>& inputs) {
  const std::string dir = gvae_test::modelDir();
  const auto cpu = gvae::Model::load(dir + "/tiny_latent.pt", gvae::Device::Cpu);
  gvae::ProducerConfig pcfg;
  pcfg.batch_size = 64;
  pcfg.mode = gvae::Mode::Sampling;  // per-jet seeds: the noise is drawn on the CPU, identical on both
  pcfg.seed = 5;
  gvae::SimulatorConfig scfg;
  scfg.batch_size = 64;
  scfg.seed = 6;
  std::vector<std::vector<gvae::JetCondition>> conditions(kThreads);
  std::vector<SetSummary> cpuReco(kThreads), cpuSim(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    conditions[t] = jetConditions(cpu->contract(), kJetsPerThread, t * 100000ull);
    cpuReco[t] = summarise(gvae::Producer(cpu, pcfg).produce(inputs[t]));
    cpuSim[t] = summarise(gvae::Simulator(cpu, scfg).simulate(conditions[t]));
  }
  // A stream of the wrong device is refused by the Simulator, naming both (as the Producer).
  GVAE_CHECK_THROWS(gvae::InvalidInput,
                    gvae::Simulator(cpu, scfg).simulate(conditions[0], nullptr, gvae::newStream(c10::Device(c10::kCUDA, 0))),
                    "Simulator::simulate", "stream on 'cuda", "'cpu'");
  const auto ts = gvae::Model::load(dir + "/tiny_latent.pt", gvae::Device::Cuda);
  GVAE_CHECK(ts->device().is_cuda());
  multiStreamV2(ts, pcfg, scfg, inputs, conditions, cpuReco, cpuSim, "latent torchscript cuda");
  const std::string scriptCuda = dir + "/tiny_latent_cuda.pt", aotiCuda = dir + "/tiny_latent_cuda.pt2";
  GVAE_CHECK_MSG(std::filesystem::exists(scriptCuda) && std::filesystem::exists(aotiCuda),
                 "CUDA is available but the fixture did not write " << scriptCuda << " and " << aotiCuda);
  if (std::filesystem::exists(scriptCuda)) {
    const auto m = gvae::Model::load(scriptCuda, gvae::Device::Auto);  // exported for cuda
    GVAE_CHECK(m->device().is_cuda());
    multiStreamV2(m, pcfg, scfg, inputs, conditions, cpuReco, cpuSim, "latent torchscript exported for cuda");
  }
  if (std::filesystem::exists(aotiCuda)) {
    gvae::ModelOptions options;
    options.aoti_runners = kThreads;  // one per stream
    const auto ao = gvae::Model::load(aotiCuda, gvae::Device::Auto, options);
    GVAE_CHECK(ao->device().is_cuda());
    multiStreamV2(ao, pcfg, scfg, inputs, conditions, cpuReco, cpuSim, "latent aoti cuda");
  }
}

}  // namespace

int main() {
  if (!torch::cuda::is_available()) {
    std::cout << "SKIP: torch::cuda::is_available() is false (no GPU or CPU-only LibTorch)\n";
    return gvae_test::kSkip;
  }
  const int count = gvae::cudaDeviceCount();
  std::cout << "CUDA devices: " << count << "\n";
  std::vector<std::vector<gvae::JetHits>> inputs(kThreads);
  for (int t = 0; t < kThreads; ++t) inputs[t] = gvae_test::syntheticJets(kJetsPerThread, 3 + t, t * 100000);

  gvae::ProducerConfig det;
  det.batch_size = 64;
  gvae::ProducerConfig smp = det;
  smp.mode = gvae::Mode::Sampling;  // per-jet seeds: the noise is drawn on the CPU, identical on both
  smp.seed = 11;
  const auto cpuModel = gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cpu);
  std::vector<std::vector<gvae::JetResult>> cpuDet(kThreads), cpuSmp(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    cpuDet[t] = gvae::Producer(cpuModel, det).produce(inputs[t]);
    cpuSmp[t] = gvae::Producer(cpuModel, smp).produce(inputs[t]);
  }

  // Device selection: cuda:N, out-of-range ordinals, Auto follows the exported device.
  gvae::ModelOptions last;
  last.device_index = count - 1;
  GVAE_CHECK(gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cuda, last)->device() ==
             c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(count - 1)));
  gvae::ModelOptions beyond;
  beyond.device_index = count;
  GVAE_CHECK_THROWS(gvae::DeviceUnavailable, gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cuda, beyond),
                    "cuda:" + std::to_string(count), std::to_string(count) + " CUDA device");
  GVAE_CHECK(gvae::parseDeviceSpec("cuda:" + std::to_string(count - 1)).index == count - 1);
  GVAE_CHECK(gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Auto)->device().is_cpu());  // exported for cpu

  // Load and run under a device guard: the caller's current device is left as it was.
  {
    const c10::impl::VirtualGuardImpl cudaImpl(c10::kCUDA);
    const c10::Device callerDevice = cudaImpl.getDevice();
    gvae::ModelOptions other;
    other.device_index = count - 1 == callerDevice.index() ? 0 : count - 1;
    const auto m = gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cuda, other);
    gvae::Producer(m, det).produce(inputs[0]);
    GVAE_CHECK(cudaImpl.getDevice() == callerDevice);
  }

  // TorchScript moved to the GPU.
  const auto ts = gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cuda);
  GVAE_CHECK(ts->device().is_cuda());
  {
    const gvae::Producer p(ts, det);
    const auto b = p.prepare(inputs[0].data(), 8);
    GVAE_CHECK_MSG(b.features.is_pinned() && b.neighbours.is_pinned() && b.mask.is_pinned(),
                   "inputs for a CUDA model are staged in pinned host memory");
    // A stream of the wrong device is refused, naming both.
    GVAE_CHECK_THROWS(gvae::InvalidInput,
                      gvae::Producer(cpuModel, det).produce(inputs[0], nullptr, gvae::newStream(ts->device())),
                      "stream on 'cuda", "'cpu'");
    // Model::forward on an explicit stream: the output is ready after synchronising that stream.
    const c10::Stream s = gvae::newStream(ts->device());
    const at::Tensor rec = ts->forward(b.features, b.neighbours, b.mask, b.noise, s);
    s.synchronize();
    const at::Tensor ref = cpuModel->forward(b.features, b.neighbours, b.mask, b.noise);
    const double d = (rec.cpu() - ref).abs().max().template item<double>();
    std::cout << "torchscript forward on a pool stream vs cpu: max |diff| = " << d << "\n";
    GVAE_CHECK(d < 1e-3);
  }
  multiStream(ts, det, inputs, cpuDet, "torchscript cuda");
  multiStream(ts, smp, inputs, cpuSmp, "torchscript cuda");

  const std::string scriptCuda = gvae_test::modelDir() + "/tiny_cuda.pt";
  const std::string aotiCuda = gvae_test::modelDir() + "/tiny_cuda.pt2";
  GVAE_CHECK_MSG(std::filesystem::exists(scriptCuda) && std::filesystem::exists(aotiCuda),
                 "CUDA is available but the fixture did not write " << scriptCuda << " and " << aotiCuda);
  if (std::filesystem::exists(scriptCuda)) {
    const auto m = gvae::Model::load(scriptCuda, gvae::Device::Auto);  // exported for cuda
    GVAE_CHECK(m->device().is_cuda());
    multiStream(m, det, inputs, cpuDet, "torchscript exported for cuda");
  }
  if (std::filesystem::exists(aotiCuda)) {
    gvae::ModelOptions options;
    options.aoti_runners = kThreads;  // one per stream
    const auto ao = gvae::Model::load(aotiCuda, gvae::Device::Auto, options);
    GVAE_CHECK(ao->device().is_cuda());
    GVAE_CHECK_THROWS(gvae::DeviceUnavailable, gvae::Model::load(aotiCuda, gvae::Device::Cpu), "cuda");
    multiStream(ao, det, inputs, cpuDet, "aoti cuda");
    multiStream(ao, smp, inputs, cpuSmp, "aoti cuda");
    if (count > 1) {
      gvae::ModelOptions second = options;
      second.device_index = 1;
      const auto ao1 = gvae::Model::load(aotiCuda, gvae::Device::Cuda, second);
      GVAE_CHECK(ao1->device() == c10::Device(c10::kCUDA, 1));
      multiStream(ao1, det, inputs, cpuDet, "aoti cuda:1");
    }
  }
  latentModels(inputs);
  return gvae_test::finish("test_cuda");
}
