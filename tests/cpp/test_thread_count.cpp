// Threads a forward really uses on a fresh thread after configureThreads(intra, 1).
//
// The kernels AOTInductor compiles hold `#pragma omp parallel` regions whose team size is the
// calling thread's OpenMP setting, which at::set_num_threads() changes for the configuring thread
// only: a thread started later (a framework stream) begins with OpenMP's process default. ctest
// runs this with OMP_NUM_THREADS=4, so that default is 4 on any machine and a forward that ignored
// configureThreads would start 3 OpenMP workers. libgomp keeps a thread's workers alive until the
// thread exits, so the workers a forward started are the thread ids in /proc/self/task after it
// that were not there before, measured inside the fresh thread. (Not the rise in the count: the
// workers of an earlier fresh thread leave asynchronously after it joins, and one leaving while the
// next forward starts one netted zero on a loaded CI machine.) Models: omp_probe.pt2
// (tests/cpp/make_omp_probe.py: compiled kernels only, its first one an OpenMP region: nothing else
// sets the team size), the tiny gvae model in both formats. Usage: test_thread_count [INTRA] (default 1).
#include <dirent.h>

#include <cstdlib>
#include <set>
#include <thread>

#include <ATen/Parallel.h>

#include "gvae_test.h"

namespace {

// Ids of the process's threads (/proc/self/task); empty if it cannot be read.
std::set<long> threadIds() {
  std::set<long> ids;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return ids;
  while (const dirent* e = readdir(dir))
    if (e->d_name[0] != '.') ids.insert(std::strtol(e->d_name, nullptr, 10));
  closedir(dir);
  return ids;
}

// Workers started by one forward of `model` on a fresh thread: the threads present after it and
// not before (by thread id, so that a worker of an earlier fresh thread leaving meanwhile is not
// subtracted from them).
int workersOfFreshThreadForward(const std::shared_ptr<const gvae::Model>& model, const gvae::Producer::Batch& b) {
  int added = -1;
  std::string error;
  std::thread fresh([&] {
    try {
      const std::set<long> before = threadIds();
      model->forward(b.features, b.neighbours, b.mask, b.noise);
      model->forward(b.features, b.neighbours, b.mask, b.noise);
      added = 0;
      for (const long id : threadIds()) added += before.count(id) == 0 ? 1 : 0;
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  fresh.join();
  GVAE_CHECK_MSG(error.empty(), error);
  return added;
}

}  // namespace

int main(int argc, char** argv) {
  const int intra = argc > 1 ? std::atoi(argv[1]) : 1;
  if (threadIds().empty()) {
    std::cout << "SKIP: /proc/self/task is not readable here (threads cannot be counted)\n";
    return gvae_test::kSkip;
  }
  const char* ompEnv = std::getenv("OMP_NUM_THREADS");
  const int ompDefault = ompEnv != nullptr ? std::atoi(ompEnv) : static_cast<int>(std::thread::hardware_concurrency());
  if (ompDefault <= intra) {
    std::cout << "SKIP: OpenMP's default team (" << ompDefault << ") is not above intra=" << intra
              << ", so a forward ignoring configureThreads could not be told apart (ctest sets OMP_NUM_THREADS=4)\n";
    return gvae_test::kSkip;
  }
  gvae::configureThreads(intra, 1);

  gvae::ModelOptions options;
  options.aoti_runners = 1;
  const auto probe = gvae::Model::load(gvae_test::modelDir() + "/omp_probe.pt2", gvae::Device::Cpu, options);
  const auto aoti = gvae::Model::load(gvae_test::aotiPath(), gvae::Device::Cpu, options);
  const auto script = gvae::Model::load(gvae_test::torchscriptPath(), gvae::Device::Cpu);
  const std::vector<gvae::JetHits> jets = gvae_test::syntheticJets(64, 5);
  const gvae::Producer::Batch batch = gvae::Producer(aoti, {}).prepare(jets.data(), jets.size());

  // Exactly intra - 1 for the AOTInductor models: fewer would mean the compiled kernels never
  // entered a parallel region (the test could not see the bug), more that they used OpenMP's
  // default team instead of configureThreads'.
  for (const auto& [model, name] : {std::pair{probe, "aoti omp_probe"}, std::pair{aoti, "aoti tiny"}}) {
    const int workers = workersOfFreshThreadForward(model, batch);
    std::cout << name << ": a forward on a fresh thread (OpenMP default " << ompDefault << ", intra=" << intra
              << ") started " << workers << " worker thread(s): team of " << workers + 1 << "\n";
    GVAE_CHECK_MSG(workers == intra - 1, name << " forward started " << workers << " OpenMP workers, expected "
                                              << intra - 1 << " for intra_op=" << intra);
  }

  const int scriptWorkers = workersOfFreshThreadForward(script, batch);
  std::cout << "torchscript: a forward on a fresh thread started " << scriptWorkers << " worker thread(s)\n";
  GVAE_CHECK_MSG(scriptWorkers >= 0 && scriptWorkers <= intra - 1,
                 "torchscript forward started " << scriptWorkers << " workers, expected at most " << intra - 1);
  return gvae_test::finish("test_thread_count");
}
