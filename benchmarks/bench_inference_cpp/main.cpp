// bench_inference: libgvae's C++ calls on the same jets, same run, for contract v1 and v2 models.
//
//   bench_inference --hits JETS.gvh --model A.pt [--model B.pt2 ...] [--batch-sizes 1,64,512]
//                   [--device cpu|cuda|cuda:N] [--repeats 3] [--max-jets-batch1 32] [--intra 1] [--jets N]
//                   [--streams T]
//
// --jets N: the first N jets of the file, cycled (with new jet ids) when it holds fewer.
// Contract v2 models (latent decoder, entry points reconstruct + simulate), one JSON object per
// (model, batch size) with "contract": 2 (batch sizes above the artifact's batch range are skipped):
//   `reconstruct` Producer::produce on the jets (graphs, normalisation, batching, the reconstruct
//   entry point, snapping to detector cells; jets batched by hit count, the default); `run_reconstruct`
//   Model::run("reconstruct") alone on the same batches prepared beforehand (inputs moved to the
//   device and the outputs copied back inside the clock); `*_input_order`: both with
//   ProducerConfig::sort_by_size = false (batches in file order), `sort_gain` their produce ratio;
//   `simulate` Simulator::simulate on as many conditions (type, pT inside the trained range, per-jet
//   seeds; batches ordered by simulate_counts where the model has it); `simulate_input_order` with
//   SimulatorConfig::sort_by_count = false; `run_simulate` Model::run("simulate") alone on the same
//   inputs drawn beforehand, in input order.
// Contract v1 models (paper decoder): `forward` times Model::forward on batches prepared beforehand,
// `produce` Producer::produce on the same jets; `prepare` Producer::prepare alone (graphs +
// normalisation + noise); `validate` gvae::validateInputs alone (part of `forward`).
// All are repeated alternately after a warm-up; the median is reported.
//
// --streams T (T > 1): also T threads sharing each model (aoti_runners = T), each producing all the
// jets at batch 64 (v2: and simulating as many jets) on its own stream vs. all on the default
// stream: a `streams {...}` line.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <gvae/gvae.h>

namespace {

std::vector<int> parseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : (v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]));
}

void sync(const gvae::Model& model) {
  if (model.device().is_cuda()) torch::cuda::synchronize();
}

bool isV2(const gvae::Model& model) { return model.contract().schema_version >= gvae::Contract::kSchemaVersionV2; }

// Simulation conditions for n jets: types cycled, pT spread over each type's trained range.
std::vector<gvae::JetCondition> conditionsFor(const gvae::Contract& c, std::size_t n) {
  std::vector<gvae::JetCondition> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& type = c.types[i % c.types.size()];
    out[i].jet_id = i;
    out[i].jet_type = static_cast<int>(i % c.types.size());
    out[i].pt = type.pt_min + (type.pt_max - type.pt_min) * static_cast<double>((37 * i) % 101) / 100.0;
  }
  return out;
}

// `threads` threads share `model`, each with its own Producer (batch 64) over `jets` (contract v2:
// and its own Simulator over as many conditions), on its own stream (gvae::newStream) or, with
// ownStreams false, all on the default stream. Wall seconds.
double concurrent(const std::shared_ptr<const gvae::Model>& model, const std::vector<gvae::JetHits>& jets,
                  int threads, bool ownStreams) {
  gvae::ProducerConfig cfg;
  cfg.batch_size = std::min(64, model->contract().batch_max);
  gvae::SimulatorConfig scfg;
  scfg.batch_size = cfg.batch_size;
  const bool v2 = isV2(*model);
  const std::vector<gvae::JetCondition> conditions = v2 ? conditionsFor(model->contract(), jets.size())
                                                        : std::vector<gvae::JetCondition>{};
  std::vector<std::thread> pool;
  std::vector<std::string> errors(static_cast<std::size_t>(threads));
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        const gvae::Producer producer(model, cfg);
        std::optional<c10::Stream> stream;
        if (ownStreams) stream = gvae::newStream(model->device());
        (void)producer.produce(jets, nullptr, stream);
        if (v2) (void)gvae::Simulator(model, scfg).simulate(conditions, nullptr, stream);
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  for (auto& th : pool) th.join();
  sync(*model);
  for (const auto& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Contract v2: reconstruct (Producer) and simulate (Simulator) vs their raw Model::run calls.
void benchV2(const std::shared_ptr<const gvae::Model>& model, const std::string& path,
             const std::vector<gvae::JetHits>& jets, int bs, int repeats) {
  const gvae::Contract& c = model->contract();
  gvae::ProducerConfig cfg;
  cfg.batch_size = bs;
  const gvae::Producer producer(model, cfg);
  cfg.sort_by_size = false;
  const gvae::Producer unsorted(model, cfg);
  // The jets in the order produce() runs them (by hit count, stable): run_reconstruct times the same batches.
  std::vector<gvae::JetHits> bySize(jets);
  std::stable_sort(bySize.begin(), bySize.end(),
                   [](const gvae::JetHits& a, const gvae::JetHits& b) { return a.hits.size() < b.hits.size(); });
  gvae::SimulatorConfig scfg;
  scfg.batch_size = bs;
  scfg.seed = 1;
  const gvae::Simulator simulator(model, scfg);
  scfg.sort_by_count = false;
  const gvae::Simulator simUnsorted(model, scfg);
  const std::vector<gvae::JetCondition> conditions = conditionsFor(c, jets.size());
  std::vector<gvae::Producer::Batch> batches, inputOrder;
  std::vector<std::vector<at::Tensor>> simInputs;
  gvae::NoiseGenerator rng(3);
  const int64_t D = static_cast<int64_t>(c.clusters) * c.latent_dim;
  for (std::size_t s = 0; s < jets.size(); s += static_cast<std::size_t>(bs)) {
    const std::size_t n = std::min<std::size_t>(bs, jets.size() - s);
    batches.push_back(producer.prepare(bySize.data() + s, n));
    inputOrder.push_back(producer.prepare(jets.data() + s, n));
    at::Tensor cond = at::empty({static_cast<int64_t>(n), 2}, at::kDouble);
    for (std::size_t j = 0; j < n; ++j) {
      cond[static_cast<int64_t>(j)][0] = static_cast<double>(conditions[s + j].jet_type);
      cond[static_cast<int64_t>(j)][1] = conditions[s + j].pt;
    }
    simInputs.push_back({cond, rng.normal({static_cast<int64_t>(n), D}), rng.normal({static_cast<int64_t>(n), 3})});
  }
  auto toHost = [](const std::vector<at::Tensor>& out) {
    for (const at::Tensor& t : out) (void)t.to(at::kCPU);
  };
  std::map<std::string, std::function<void()>> calls = {
      {"reconstruct", [&] { (void)producer.produce(jets); }},
      {"run_reconstruct",
       [&] {
         for (const auto& b : batches)
           toHost(model->run("reconstruct", {b.features, b.neighbours, b.mask, b.noise, b.count_noise}));
       }},
      {"reconstruct_input_order", [&] { (void)unsorted.produce(jets); }},
      {"run_reconstruct_input_order",
       [&] {
         for (const auto& b : inputOrder)
           toHost(model->run("reconstruct", {b.features, b.neighbours, b.mask, b.noise, b.count_noise}));
       }},
      {"simulate", [&] { (void)simulator.simulate(conditions); }},
      {"simulate_input_order", [&] { (void)simUnsorted.simulate(conditions); }},
      {"run_simulate",
       [&] {
         for (const auto& x : simInputs) toHost(model->run("simulate", x));
       }},
  };
  std::map<std::string, std::vector<double>> times;
  for (auto& [name, f] : calls) {  // warm-up (allocator, TorchScript profiling runs, CUDA context)
    f();
    sync(*model);
  }
  for (int r = 0; r < repeats; ++r)
    for (auto& [name, f] : calls)
      times[name].push_back(seconds([&] {
        f();
        sync(*model);
      }));
  const double nj = static_cast<double>(jets.size());
  std::cout << "{\"model\": \"" << path << "\", \"contract\": 2, \"format\": \"" << gvae::formatName(model->format())
            << "\", \"device\": \"" << model->device().str() << "\", \"batch_size\": " << bs
            << ", \"jets\": " << jets.size() << ", \"batches\": " << batches.size() << ", \"repeats\": " << repeats
            << ", \"intra_op_threads\": " << at::get_num_threads();
  for (const auto& [name, v] : times) std::cout << ", \"" << name << "_ms_per_jet\": " << 1e3 * median(v) / nj;
  std::cout << ", \"producer_overhead\": " << median(times["reconstruct"]) / median(times["run_reconstruct"]) - 1.0
            << ", \"producer_overhead_input_order\": "
            << median(times["reconstruct_input_order"]) / median(times["run_reconstruct_input_order"]) - 1.0
            << ", \"sort_gain\": " << median(times["reconstruct_input_order"]) / median(times["reconstruct"])
            << ", \"simulator_overhead_input_order\": "
            << median(times["simulate_input_order"]) / median(times["run_simulate"]) - 1.0
            << ", \"simulate_sort_gain\": " << median(times["simulate_input_order"]) / median(times["simulate"]) << "}"
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  std::string hits, device = "cpu";
  std::vector<std::string> models;
  std::vector<int> batchSizes = {1, 64, 512};
  int repeats = 3, maxJetsBatch1 = 32, intra = 1, maxJets = 0, streams = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
      return argv[++i];
    };
    if (a == "--hits") hits = next();
    else if (a == "--model") models.push_back(next());
    else if (a == "--batch-sizes") batchSizes = parseList(next());
    else if (a == "--device") device = next();
    else if (a == "--repeats") repeats = std::stoi(next());
    else if (a == "--max-jets-batch1") maxJetsBatch1 = std::stoi(next());
    else if (a == "--intra") intra = std::stoi(next());
    else if (a == "--jets") maxJets = std::stoi(next());
    else if (a == "--streams") streams = std::stoi(next());
    else {
      std::cerr << "usage: bench_inference --hits F.gvh --model M [--model M2] [--batch-sizes 1,64,512] "
                   "[--device cpu|cuda] [--repeats N] [--max-jets-batch1 N] [--intra N] [--jets N] [--streams T]\n";
      return 2;
    }
  }
  if (hits.empty() || models.empty()) {
    std::cerr << "bench_inference: --hits and --model are required\n";
    return 2;
  }
  try {
    gvae::configureThreads(intra, 1);
    std::vector<gvae::JetHits> all = gvae::readGvhJets(hits);
    if (all.empty()) throw std::runtime_error(hits + ": no jets");
    if (maxJets > 0 && all.size() > static_cast<std::size_t>(maxJets)) all.resize(static_cast<std::size_t>(maxJets));
    for (std::size_t i = 0; maxJets > 0 && all.size() < static_cast<std::size_t>(maxJets); ++i) {
      all.push_back(all[i]);  // fewer jets in the file: cycle them (new ids) up to --jets
      all.back().jet_id = all.size() - 1;
    }
    for (const std::string& path : models) {
      const gvae::DeviceSpec spec = gvae::parseDeviceSpec(device);
      gvae::ModelOptions options;
      options.device_index = spec.index;
      if (streams > 1) options.aoti_runners = static_cast<std::size_t>(streams);  // one per caller
      auto model = gvae::Model::load(path, spec.device, options);
      if (streams > 1) {
        // Concurrency: `streams` threads on their own streams vs. all on the default stream
        // (printed as a `streams {...}` line, not a batch row).
        const std::vector<gvae::JetHits> jets(all.begin(), all.end());
        concurrent(model, jets, streams, true);  // warm-up
        std::vector<double> own, shared;
        for (int r = 0; r < repeats; ++r) {
          own.push_back(concurrent(model, jets, streams, true));
          shared.push_back(concurrent(model, jets, streams, false));
        }
        const double nj = static_cast<double>(jets.size() * static_cast<std::size_t>(streams));
        std::cout << "streams {\"model\": \"" << path << "\", \"device\": \"" << model->device().str()
                  << "\", \"threads\": " << streams << ", \"jets_per_thread\": " << jets.size()
                  << ", \"own_streams_jets_per_s\": " << nj / median(own)
                  << ", \"default_stream_jets_per_s\": " << nj / median(shared) << "}" << std::endl;
      }
      for (int bs : batchSizes) {
        std::size_t nJets = all.size();
        if (bs == 1) nJets = std::min<std::size_t>(nJets, static_cast<std::size_t>(maxJetsBatch1));
        nJets = std::max<std::size_t>(std::min<std::size_t>(nJets, all.size()), 1);
        const std::vector<gvae::JetHits> jets(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(nJets));
        if (isV2(*model)) {
          if (bs < model->contract().batch_min || bs > model->contract().batch_max) {
            std::cerr << "bench_inference: " << path << ": batch " << bs << " outside its batch range ["
                      << model->contract().batch_min << ", " << model->contract().batch_max << "], skipped\n";
            continue;
          }
          benchV2(model, path, jets, bs, repeats);
          continue;
        }
        gvae::ProducerConfig cfg;
        cfg.batch_size = bs;
        const gvae::Producer producer(model, cfg);
        std::vector<gvae::Producer::Batch> batches;
        auto timePrepare = [&] {
          batches.clear();
          const auto t0 = std::chrono::steady_clock::now();
          for (std::size_t s = 0; s < jets.size(); s += static_cast<std::size_t>(bs))
            batches.push_back(producer.prepare(jets.data() + s, std::min<std::size_t>(bs, jets.size() - s)));
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        };
        timePrepare();

        auto timeForward = [&] {
          const auto t0 = std::chrono::steady_clock::now();
          for (const auto& b : batches) {
            at::Tensor out = model->forward(b.features, b.neighbours, b.mask, b.noise).to(at::kCPU);
            (void)out;
          }
          sync(*model);
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        };
        auto timeProduce = [&] {
          const auto t0 = std::chrono::steady_clock::now();
          auto out = producer.produce(jets);
          sync(*model);
          (void)out;
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        };
        // Model::forward's input validation alone (it is part of forward_s): shapes, neighbour range, finiteness.
        auto timeValidate = [&] {
          const auto t0 = std::chrono::steady_clock::now();
          for (const auto& b : batches)
            gvae::validateInputs(model->contract(), b.features, b.neighbours, b.mask, b.noise);
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        };
        timeForward();  // warm-up (allocator, TorchScript profiling runs, CUDA context)
        timeProduce();
        std::vector<double> fwd, prod, prep, val;
        for (int r = 0; r < repeats; ++r) {
          val.push_back(timeValidate());
          fwd.push_back(timeForward());
          prod.push_back(timeProduce());
          prep.push_back(timePrepare());
        }
        const double f = median(fwd), p = median(prod), g = median(prep), v = median(val);
        const double nb = static_cast<double>(batches.size()), nj = static_cast<double>(jets.size());
        std::cout << "{\"model\": \"" << path << "\", \"format\": \"" << gvae::formatName(model->format())
                  << "\", \"device\": \"" << model->device().str() << "\", \"batch_size\": " << bs
                  << ", \"jets\": " << jets.size() << ", \"batches\": " << batches.size()
                  << ", \"repeats\": " << repeats << ", \"intra_op_threads\": " << at::get_num_threads()
                  << ", \"forward_s\": " << f << ", \"produce_s\": " << p
                  << ", \"forward_jets_per_s\": " << nj / f << ", \"produce_jets_per_s\": " << nj / p
                  << ", \"forward_ms_per_jet\": " << 1e3 * f / nj << ", \"produce_ms_per_jet\": " << 1e3 * p / nj
                  << ", \"forward_s_per_batch\": " << f / nb << ", \"produce_s_per_batch\": " << p / nb
                  << ", \"prepare_ms_per_jet\": " << 1e3 * g / nj << ", \"overhead\": " << p / f - 1.0
                  << ", \"overhead_min\": " << *std::min_element(prod.begin(), prod.end()) /
                                                     *std::min_element(fwd.begin(), fwd.end()) - 1.0
                  << ", \"prepare_fraction\": " << g / f << ", \"validate_ms_per_batch\": " << 1e3 * v / nb
                  << ", \"validate_fraction\": " << v / f << "}"
                  << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_inference: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
