// Threading: the process-wide configureThreads() and the stress test -- 8 threads share one model
// (each with its own Producer, as framework streams do) and produce 1000 jets each; every
// thread's results are bitwise identical to a serial run over the same jets. Both formats.
// GVAE_STRESS_JETS overrides the jets per thread (`make tsan` runs 200 under ThreadSanitizer).
#include <cstdlib>
#include <thread>

#include <ATen/Parallel.h>

#include "gvae_test.h"

namespace {

constexpr int kThreads = 8;
const std::size_t kJetsPerThread = [] {
  const char* env = std::getenv("GVAE_STRESS_JETS");
  return env != nullptr && std::atoi(env) > 0 ? static_cast<std::size_t>(std::atoi(env)) : std::size_t{1000};
}();

void stress(const std::shared_ptr<const gvae::Model>& model, const char* name) {
  gvae::ProducerConfig cfg;
  cfg.batch_size = 50;
  std::vector<std::vector<gvae::JetHits>> inputs(kThreads);
  for (int t = 0; t < kThreads; ++t) inputs[t] = gvae_test::syntheticJets(kJetsPerThread, 100 + t, t * 100000);

  // Serial reference: one producer, the same batches, one after the other.
  gvae::Producer serialProducer(model, cfg);
  std::vector<std::vector<gvae::JetResult>> serial(kThreads);
  for (int t = 0; t < kThreads; ++t) serial[t] = serialProducer.produce(inputs[t]);

  // Concurrent: one producer per thread over the shared model, plus one producer shared by all.
  std::vector<std::vector<gvae::JetResult>> own(kThreads), shared(kThreads);
  std::vector<std::string> errors(kThreads);
  const gvae::Producer sharedProducer(model, cfg);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        const gvae::Producer mine(model, cfg);
        own[t] = mine.produce(inputs[t]);
        shared[t] = sharedProducer.produce(inputs[t]);
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    GVAE_CHECK_MSG(errors[t].empty(), name << " thread " << t << ": " << errors[t]);
    GVAE_CHECK_MSG(gvae_test::identical(own[t], serial[t]), name << " thread " << t << " (own producer)");
    GVAE_CHECK_MSG(gvae_test::identical(shared[t], serial[t]), name << " thread " << t << " (shared producer)");
  }
  std::cout << name << ": " << kThreads << " threads x " << kJetsPerThread << " jets identical to serial\n";
}

}  // namespace

int main() {
  GVAE_CHECK(gvae::configuredThreads().intra_op_threads == 0);
  GVAE_CHECK_THROWS(gvae::Error, gvae::configureThreads(0, 1), ">= 1");
  gvae::configureThreads(1, 1);
  gvae::configureThreads(1, 1);  // the same values again: no-op
  GVAE_CHECK(gvae::configuredThreads().intra_op_threads == 1 && gvae::configuredThreads().inter_op_threads == 1);
  GVAE_CHECK_THROWS(gvae::Error, gvae::configureThreads(2, 1), "already configured");
  GVAE_CHECK(at::get_num_threads() == 1);

  gvae::ModelOptions options;
  options.aoti_runners = kThreads;
  stress(gvae::Model::load(gvae_test::torchscriptPath()), "torchscript");
  stress(gvae::Model::load(gvae_test::aotiPath(), gvae::Device::Cpu, options), "aoti");
  return gvae_test::finish("test_threading");
}
