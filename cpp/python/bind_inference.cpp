// Bindings of the inference API (Model, Producer, NoiseGenerator, configureThreads): numpy in,
// numpy out. Boring on purpose: convert, release the GIL, forward to libgvae.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <ATen/ATen.h>

#include "gvae/gvae.h"

namespace py = pybind11;

namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

// numpy -> CPU tensor (copied, so the GIL can be released afterwards).
template <typename T>
at::Tensor toTensor(const Array<T>& a, at::ScalarType dtype) {
  std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (a.size() > 0) std::memcpy(t.data_ptr(), a.data(), sizeof(T) * static_cast<std::size_t>(a.size()));
  return t;
}

template <typename T>
py::array_t<T> toNumpy(const at::Tensor& tensor) {
  at::Tensor t = tensor.to(at::kCPU).contiguous();
  py::array_t<T> out(std::vector<py::ssize_t>(t.sizes().begin(), t.sizes().end()));
  if (t.numel() > 0) std::memcpy(out.mutable_data(), t.data_ptr(), sizeof(T) * static_cast<std::size_t>(t.numel()));
  return out;
}

template <typename T>
py::array_t<T> vectorToNumpy(const std::vector<T>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), sizeof(T) * v.size());
  return out;
}

// Jagged hits (flat per-hit arrays + hits per jet) -> JetHits. Shape errors -> InvalidInput.
std::vector<gvae::JetHits> jetsFromArrays(const Array<int>& channel, const Array<int>& ieta, const Array<int>& iphi,
                                          const Array<float>& energy, const Array<int64_t>& counts,
                                          const py::object& jetIds) {
  const py::ssize_t nHits = energy.size();
  if (channel.ndim() != 1 || ieta.ndim() != 1 || iphi.ndim() != 1 || energy.ndim() != 1 || counts.ndim() != 1)
    throw gvae::InvalidInput("channel, ieta, iphi, energy and counts must be 1-d arrays");
  if (channel.size() != nHits || ieta.size() != nHits || iphi.size() != nHits)
    throw gvae::InvalidInput("channel, ieta, iphi and energy must have the same length (one entry per hit)");
  const py::ssize_t nJets = counts.size();
  std::vector<uint64_t> ids(static_cast<std::size_t>(nJets));
  if (jetIds.is_none()) {
    for (py::ssize_t j = 0; j < nJets; ++j) ids[j] = static_cast<uint64_t>(j);
  } else {
    Array<uint64_t> a = jetIds.cast<Array<uint64_t>>();
    if (a.ndim() != 1 || a.size() != nJets) throw gvae::InvalidInput("jet_ids must have one entry per jet");
    std::memcpy(ids.data(), a.data(), sizeof(uint64_t) * ids.size());
  }
  std::vector<gvae::JetHits> jets(static_cast<std::size_t>(nJets));
  const int* c = channel.data();
  const int* e = ieta.data();
  const int* p = iphi.data();
  const float* en = energy.data();
  py::ssize_t offset = 0;
  for (py::ssize_t j = 0; j < nJets; ++j) {
    const int64_t n = counts.data()[j];
    if (n < 0 || offset + n > nHits)
      throw gvae::InvalidInput("jet " + std::to_string(j) + ": field 'counts': " + std::to_string(n) +
                               " hits do not fit the " + std::to_string(nHits) + " hits given");
    gvae::JetHits& jet = jets[static_cast<std::size_t>(j)];
    jet.jet_id = ids[static_cast<std::size_t>(j)];
    jet.hits.resize(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i, ++offset) jet.hits[i] = gvae::Hit{c[offset], e[offset], p[offset], en[offset]};
  }
  if (offset != nHits)
    throw gvae::InvalidInput("field 'counts': sums to " + std::to_string(offset) + " but " + std::to_string(nHits) +
                             " hits were given");
  return jets;
}

/// The hits of many jets as flat per-hit arrays plus per-jet `counts` and `jet_id`: the shape both
/// Producer.produce and Simulator.simulate return to Python.
struct FlatHits {
  std::vector<int32_t> channel, ieta, iphi;
  std::vector<float> x, y, energy;
  std::vector<int64_t> counts;
  std::vector<uint64_t> ids;

  void add(std::uint64_t jet_id, const std::vector<gvae::RecoHit>& hits) {
    for (const auto& h : hits) {
      channel.push_back(h.channel);
      x.push_back(h.x);
      y.push_back(h.y);
      ieta.push_back(h.ieta);
      iphi.push_back(h.iphi);
      energy.push_back(h.energy);
    }
    counts.push_back(static_cast<int64_t>(hits.size()));
    ids.push_back(jet_id);
  }
  void into(py::dict& d) const {
    d["channel"] = vectorToNumpy(channel);
    d["x"] = vectorToNumpy(x);
    d["y"] = vectorToNumpy(y);
    d["ieta"] = vectorToNumpy(ieta);
    d["iphi"] = vectorToNumpy(iphi);
    d["energy"] = vectorToNumpy(energy);
    d["counts"] = vectorToNumpy(counts);
    d["jet_id"] = vectorToNumpy(ids);
  }
};

py::dict resultsToDict(const std::vector<gvae::JetResult>& results) {
  std::size_t total = 0;
  for (const auto& r : results) total += r.hits.size();
  FlatHits flat;
  for (auto* v : {&flat.channel, &flat.ieta, &flat.iphi}) v->reserve(total);
  for (auto* v : {&flat.x, &flat.y, &flat.energy}) v->reserve(total);
  std::vector<int32_t> nHits, nNodes, countsIn, countsOut, decoded;
  std::vector<double> totalEnergy, dropped, energyIn, energyOut;
  for (const auto& r : results) {
    flat.add(r.jet_id, r.hits);
    nHits.push_back(r.diagnostics.n_hits);
    nNodes.push_back(r.diagnostics.n_nodes);
    totalEnergy.push_back(r.diagnostics.total_energy);
    dropped.push_back(r.diagnostics.dropped_energy_fraction);
    for (int ch = 0; ch < 3; ++ch) {
      countsIn.push_back(r.diagnostics.counts_in[ch]);
      countsOut.push_back(r.diagnostics.counts_out[ch]);
      decoded.push_back(r.diagnostics.decoded[ch]);
      energyIn.push_back(r.diagnostics.energy_in[ch]);
      energyOut.push_back(r.diagnostics.energy_out[ch]);
    }
  }
  const py::ssize_t nJets = static_cast<py::ssize_t>(results.size());
  py::dict d;
  d["counts_in"] = vectorToNumpy(countsIn).reshape({nJets, py::ssize_t(3)});
  d["counts_out"] = vectorToNumpy(countsOut).reshape({nJets, py::ssize_t(3)});
  d["decoded"] = vectorToNumpy(decoded).reshape({nJets, py::ssize_t(3)});
  d["energy_in"] = vectorToNumpy(energyIn).reshape({nJets, py::ssize_t(3)});
  d["energy_out"] = vectorToNumpy(energyOut).reshape({nJets, py::ssize_t(3)});
  flat.into(d);
  d["n_nodes"] = vectorToNumpy(nNodes);
  d["n_hits"] = vectorToNumpy(nHits);
  d["total_energy"] = vectorToNumpy(totalEnergy);
  d["dropped_energy_fraction"] = vectorToNumpy(dropped);
  return d;
}

py::dict simulatedToDict(const std::vector<gvae::SimulatedJet>& jets) {
  FlatHits flat;
  std::vector<int32_t> perJet;
  std::vector<double> energyPerChannel;
  for (const auto& j : jets) {
    flat.add(j.jet_id, j.hits);
    for (int ch = 0; ch < 3; ++ch) {
      perJet.push_back(j.counts[ch]);
      energyPerChannel.push_back(j.energy[ch]);
    }
  }
  const py::ssize_t n = static_cast<py::ssize_t>(jets.size());
  py::dict d;
  flat.into(d);
  d["channel_counts"] = vectorToNumpy(perJet).reshape({n, py::ssize_t(3)});
  d["channel_energy"] = vectorToNumpy(energyPerChannel).reshape({n, py::ssize_t(3)});
  return d;
}

at::Tensor anyToTensor(const py::array& a, const std::string& dtype) {
  if (dtype == "float32") return toTensor(a.cast<Array<float>>(), at::kFloat);
  if (dtype == "float64") return toTensor(a.cast<Array<double>>(), at::kDouble);
  if (dtype == "int64") return toTensor(a.cast<Array<int64_t>>(), at::kLong);
  return toTensor(a.cast<Array<bool>>(), at::kBool);
}

py::array anyToNumpy(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return toNumpy<float>(t);
    case at::kDouble: return toNumpy<double>(t);
    case at::kLong: return toNumpy<int64_t>(t);
    case at::kBool: return toNumpy<bool>(t);
    default: throw gvae::Error(std::string("unsupported output dtype ") + c10::toString(t.scalar_type()));
  }
}

py::object contractDict(const gvae::Contract& c) {
  return py::module_::import("json").attr("loads")(c.document);
}

}  // namespace

void bind_inference(py::module_& m) {
  py::class_<gvae::Model, std::shared_ptr<gvae::Model>>(m, "Model",
      "A loaded gvae model (TorchScript .pt or AOTInductor .pt2) with its validated contract. "
      "Shared read-only by producers; forward is thread-safe.")
      .def_static(
          "load",
          [](const std::string& path, const std::string& device, std::size_t aotiRunners) {
            gvae::ModelOptions options;
            options.aoti_runners = aotiRunners;
            const gvae::DeviceSpec spec = gvae::parseDeviceSpec(device);
            options.device_index = spec.index;
            std::shared_ptr<const gvae::Model> model;
            {
              py::gil_scoped_release release;
              model = gvae::Model::load(path, spec.device, options);
            }
            // Python only reaches the const interface below.
            return std::const_pointer_cast<gvae::Model>(model);
          },
          py::arg("path"), py::arg("device") = "cpu", py::arg("aoti_runners") = 0,
          "Load a model on device 'cpu' | 'cuda' | 'cuda:N' | 'auto' (auto: the device it was exported for); aoti_runners = concurrent AOTInductor runners "
          "(0: one per hardware thread).")
      .def_property_readonly("path", &gvae::Model::path)
      .def_property_readonly("format", [](const gvae::Model& mdl) { return gvae::formatName(mdl.format()); })
      .def_property_readonly("device", [](const gvae::Model& mdl) { return mdl.device().str(); })
      .def_property_readonly("contract", [](const gvae::Model& mdl) { return contractDict(mdl.contract()); })
      .def_property_readonly("k", [](const gvae::Model& mdl) { return mdl.contract().k; })
      .def_property_readonly("max_nodes", [](const gvae::Model& mdl) { return mdl.contract().max_nodes; })
      .def_property_readonly("clusters", [](const gvae::Model& mdl) { return mdl.contract().clusters; })
      .def_property_readonly("latent_dim", [](const gvae::Model& mdl) { return mdl.contract().latent_dim; })
      .def(
          "forward",
          [](const gvae::Model& mdl, const Array<float>& features, const Array<int64_t>& neighbours,
             const Array<bool>& mask, const Array<float>& noise) {
            at::Tensor out;
            {
              at::Tensor f = toTensor(features, at::kFloat), nb = toTensor(neighbours, at::kLong),
                         mk = toTensor(mask, at::kBool), nz = toTensor(noise, at::kFloat);
              py::gil_scoped_release release;
              out = mdl.forward(f, nb, mk, nz).to(at::kCPU);
            }
            return toNumpy<float>(out);
          },
          py::arg("features"), py::arg("neighbours"), py::arg("mask"), py::arg("noise"),
          "Raw forward: features f32 [B,N,6], neighbours i64 [B,N,k], mask bool [B,N], noise f32 [B,C,L] "
          "-> f32 [B,N,3] (normalised).")
      .def("has_entry_point", &gvae::Model::hasEntryPoint, py::arg("name"))
      .def(
          "run",
          [](const gvae::Model& mdl, const std::string& name, const std::vector<py::array>& inputs) {
            const gvae::EntryPoint* ep = mdl.contract().entryPoint(name);
            if (ep == nullptr) throw gvae::ContractError("model '" + mdl.path() + "' has no entry point '" + name + "'");
            if (inputs.size() != ep->inputs.size())
              throw gvae::InvalidInput("entry point '" + name + "' takes " + std::to_string(ep->inputs.size()) +
                                       " inputs, got " + std::to_string(inputs.size()));
            std::vector<at::Tensor> in;
            for (std::size_t i = 0; i < inputs.size(); ++i) in.push_back(anyToTensor(inputs[i], ep->inputs[i].dtype));
            std::vector<at::Tensor> out;
            {
              py::gil_scoped_release release;
              out = mdl.run(name, in);
            }
            py::list result;
            for (const at::Tensor& t : out) result.append(anyToNumpy(t));
            return py::tuple(result);
          },
          py::arg("name"), py::arg("inputs"),
          "Contract v2: run entry point 'reconstruct' or 'simulate' on numpy inputs (contract order, cast to the "
          "contract dtypes); returns the output arrays (xyu, channel, hit_mask, counts).");

  py::class_<gvae::NoiseGenerator>(m, "NoiseGenerator",
      "Seeded standard-normal source for sampling mode (torch's CPU generator). One per caller.")
      .def(py::init<std::uint64_t>(), py::arg("seed"))
      .def_property_readonly("seed", &gvae::NoiseGenerator::seed)
      .def(
          "normal",
          [](gvae::NoiseGenerator& g, const std::vector<int64_t>& shape) { return toNumpy<float>(g.normal(shape)); },
          py::arg("shape"));

  py::class_<gvae::Producer>(m, "Producer",
      "Hits of many jets in, reconstructed hits per jet out (graphs, normalisation, batching, model).")
      .def(py::init([](std::shared_ptr<gvae::Model> model, int batchSize, const std::string& mode, std::uint64_t seed,
                       bool sortBySize) {
             gvae::ProducerConfig cfg;
             cfg.model_path = model ? model->path() : "";
             cfg.device = gvae::Device::Cpu;
             cfg.batch_size = batchSize;
             cfg.mode = gvae::parseMode(mode);
             cfg.seed = seed;
             cfg.sort_by_size = sortBySize;
             return std::make_unique<gvae::Producer>(std::move(model), cfg);
           }),
           py::arg("model"), py::arg("batch_size") = 64, py::arg("mode") = "deterministic", py::arg("seed") = 0,
           py::arg("sort_by_size") = true)
      .def_property_readonly("batch_size", [](const gvae::Producer& p) { return p.config().batch_size; })
      .def_property_readonly("sort_by_size", [](const gvae::Producer& p) { return p.config().sort_by_size; })
      .def_property_readonly("mode", [](const gvae::Producer& p) { return gvae::modeName(p.config().mode); })
      .def_property_readonly("seed", [](const gvae::Producer& p) { return p.config().seed; })
      .def(
          "produce",
          [](const gvae::Producer& p, const Array<int>& channel, const Array<int>& ieta, const Array<int>& iphi,
             const Array<float>& energy, const Array<int64_t>& counts, const py::object& jetIds,
             gvae::NoiseGenerator* rng) {
            std::vector<gvae::JetHits> jets = jetsFromArrays(channel, ieta, iphi, energy, counts, jetIds);
            std::vector<gvae::JetResult> results;
            {
              py::gil_scoped_release release;
              results = p.produce(jets, rng);
            }
            return resultsToDict(results);
          },
          py::arg("channel"), py::arg("ieta"), py::arg("iphi"), py::arg("energy"), py::arg("counts"),
          py::arg("jet_ids") = py::none(), py::arg("rng") = nullptr,
          "Jagged hits (flat per-hit arrays, counts = hits per jet) -> dict of flat per-hit arrays "
          "(channel, x, y, ieta, iphi, energy; counts = hits per jet) and per-jet arrays (jet_id, n_nodes, "
          "n_hits, total_energy, dropped_energy_fraction).")
      .def(
          "prepare",
          [](const gvae::Producer& p, const Array<int>& channel, const Array<int>& ieta, const Array<int>& iphi,
             const Array<float>& energy, const Array<int64_t>& counts, const py::object& jetIds,
             gvae::NoiseGenerator* rng) {
            std::vector<gvae::JetHits> jets = jetsFromArrays(channel, ieta, iphi, energy, counts, jetIds);
            if (jets.empty()) throw gvae::InvalidInput("prepare: no jets");
            gvae::Producer::Batch b;
            {
              py::gil_scoped_release release;
              b = p.prepare(jets.data(), jets.size(), rng);
            }
            py::dict d;
            d["features"] = toNumpy<float>(b.features);
            d["neighbours"] = toNumpy<int64_t>(b.neighbours);
            d["mask"] = toNumpy<bool>(b.mask);
            d["noise"] = toNumpy<float>(b.noise);
            if (b.count_noise.defined()) d["count_noise"] = toNumpy<float>(b.count_noise);
            return d;
          },
          py::arg("channel"), py::arg("ieta"), py::arg("iphi"), py::arg("energy"), py::arg("counts"),
          py::arg("jet_ids") = py::none(), py::arg("rng") = nullptr,
          "The model inputs the producer builds for these jets (one batch): features, neighbours, mask, noise.");

  py::class_<gvae::Simulator>(m, "Simulator",
      "Fast simulation through a contract v2 model's 'simulate' entry point: jet conditions in, snapped hits out.")
      .def(py::init([](std::shared_ptr<gvae::Model> model, int batchSize, std::uint64_t seed, bool sortByCount) {
             gvae::SimulatorConfig cfg;
             cfg.batch_size = batchSize;
             cfg.seed = seed;
             cfg.sort_by_count = sortByCount;
             return std::make_unique<gvae::Simulator>(std::move(model), cfg);
           }),
           py::arg("model"), py::arg("batch_size") = 64, py::arg("seed") = 0, py::arg("sort_by_count") = true)
      .def_property_readonly("batch_size", [](const gvae::Simulator& s) { return s.config().batch_size; })
      .def_property_readonly("sort_by_count", [](const gvae::Simulator& s) { return s.config().sort_by_count; })
      .def_property_readonly("seed", [](const gvae::Simulator& s) { return s.config().seed; })
      .def(
          "simulate",
          [](const gvae::Simulator& s, const Array<int>& jetType, const Array<double>& pt, const py::object& eta,
             const py::object& phi, const py::object& jetIds, gvae::NoiseGenerator* rng) {
            const py::ssize_t n = pt.size();
            if (jetType.ndim() != 1 || pt.ndim() != 1 || jetType.size() != n)
              throw gvae::InvalidInput("jet_type and pt must be 1-d arrays of the same length");
            auto column = [n](const py::object& o, const char* name) {
              std::vector<double> v(static_cast<std::size_t>(n), 0.0);
              if (o.is_none()) return v;
              Array<double> a = o.cast<Array<double>>();
              if (a.ndim() != 1 || a.size() != n) throw gvae::InvalidInput(std::string(name) + " must have one entry per jet");
              std::memcpy(v.data(), a.data(), sizeof(double) * v.size());
              return v;
            };
            const std::vector<double> etas = column(eta, "eta"), phis = column(phi, "phi");
            std::vector<gvae::JetCondition> jets(static_cast<std::size_t>(n));
            Array<uint64_t> ids;
            if (!jetIds.is_none()) {
              ids = jetIds.cast<Array<uint64_t>>();
              if (ids.ndim() != 1 || ids.size() != n) throw gvae::InvalidInput("jet_ids must have one entry per jet");
            }
            for (py::ssize_t j = 0; j < n; ++j) {
              gvae::JetCondition& c = jets[static_cast<std::size_t>(j)];
              c.jet_id = jetIds.is_none() ? static_cast<std::uint64_t>(j) : ids.data()[j];
              c.jet_type = jetType.data()[j];
              c.pt = pt.data()[j];
              c.eta = etas[static_cast<std::size_t>(j)];
              c.phi = phis[static_cast<std::size_t>(j)];
            }
            std::vector<gvae::SimulatedJet> out;
            {
              py::gil_scoped_release release;
              out = s.simulate(jets, rng);
            }
            return simulatedToDict(out);
          },
          py::arg("jet_type"), py::arg("pt"), py::arg("eta") = py::none(), py::arg("phi") = py::none(),
          py::arg("jet_ids") = py::none(), py::arg("rng") = nullptr,
          "Per-jet conditions (jet_type, pt GeV, optional eta/phi, jet_ids) -> dict of flat per-hit arrays "
          "(channel, x, y, ieta, iphi, energy; counts = hits per jet) and per-jet jet_id, channel_counts [n,3], "
          "channel_energy [n,3].");

  m.def(
      "snap",
      [](const gvae::Model& mdl, const Array<float>& xyu, const Array<int64_t>& channel, const Array<bool>& mask) {
        const gvae::Contract& c = mdl.contract();
        if (xyu.ndim() != 3 || xyu.shape(2) != 3 || channel.ndim() != 2 || mask.ndim() != 2 ||
            channel.shape(0) != xyu.shape(0) || mask.shape(0) != xyu.shape(0) || channel.shape(1) != xyu.shape(1) ||
            mask.shape(1) != xyu.shape(1))
          throw gvae::InvalidInput("snap: expected xyu [B,S,3], channel [B,S], mask [B,S]");
        if (c.schema_version < gvae::Contract::kSchemaVersionV2)
          throw gvae::ContractError("snap: model '" + mdl.path() + "' has a v1 contract (no snap block)");
        const py::ssize_t B = xyu.shape(0), S = xyu.shape(1);
        std::vector<gvae::JetResult> results(static_cast<std::size_t>(B));
        for (py::ssize_t b = 0; b < B; ++b) {
          gvae::snapJet(c, xyu.data() + b * S * 3, channel.data() + b * S, mask.data() + b * S, S,
                        results[static_cast<std::size_t>(b)].hits);
          results[static_cast<std::size_t>(b)].jet_id = static_cast<uint64_t>(b);
        }
        return resultsToDict(results);
      },
      py::arg("model"), py::arg("xyu"), py::arg("channel"), py::arg("mask"),
      "Snap decoded slots (normalised xyu [B,S,3], channel [B,S], mask [B,S]) to detector cells with the "
      "model's contract v2 (gvae/Snap.h); returns the flat per-hit dict of Producer.produce.");

  m.def("configure_threads", &gvae::configureThreads, py::arg("intra_op") = 1, py::arg("inter_op") = 1,
        "Process-wide LibTorch intra-/inter-op threads; call once, early (see gvae/Threading.h).");
  m.def("configured_threads", [] {
    gvae::ThreadSettings s = gvae::configuredThreads();
    return py::make_tuple(s.intra_op_threads, s.inter_op_threads);
  });
  m.def(
      "parse_contract",
      [](const std::string& text, const std::string& source) { return contractDict(gvae::Contract::parse(text, source)); },
      py::arg("text"), py::arg("source") = "contract", "Validate a contract JSON text as libgvae does; returns it as a dict.");
  m.def("jet_seed", &gvae::jetSeed, py::arg("seed"), py::arg("jet_id"),
        "Per-jet sampling seed used when produce() gets no generator.");
  m.attr("MAX_HITS_PER_JET") = gvae::kMaxHitsPerJet;
}
