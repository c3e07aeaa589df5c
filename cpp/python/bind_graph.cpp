// gvae._core graph bindings: numpy in, gvae::GraphBuilder (its buildMany thread pool and image
// scanning), numpy out (same arrays as gvae.graph).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gvae/Errors.h"
#include "gvae/Geometry.h"
#include "gvae/GraphBuilder.h"

namespace py = pybind11;

namespace {

template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

constexpr int kSize = gvae::geometry::kImageSize;
constexpr int kChannels = gvae::geometry::kNumChannels;

// Stacked output arrays for n jets.
struct Stacked {
  py::array_t<float> features;
  py::array_t<std::int32_t> pixels;
  py::array_t<std::int64_t> neighbours;
  py::array_t<bool> mask;
  py::array_t<std::int32_t> n_nodes;
  py::array_t<std::int32_t> n_hits;
  py::array_t<double> total_energy;
  py::array_t<double> dropped;

  Stacked(py::ssize_t n, py::ssize_t N, py::ssize_t k)
      : features({n, N, py::ssize_t{4}}), pixels({n, N, py::ssize_t{2}}), neighbours({n, N, k}),
        mask({n, N}), n_nodes(n), n_hits(n), total_energy(n), dropped(n) {}

  // Copy graph g into row b (called without the GIL: raw pointers only).
  struct Ptrs {
    float* features;
    std::int32_t* pixels;
    std::int64_t* neighbours;
    bool* mask;
    std::int32_t* n_nodes;
    std::int32_t* n_hits;
    double* total_energy;
    double* dropped;
  };
  Ptrs ptrs() {
    return {features.mutable_data(), pixels.mutable_data(), neighbours.mutable_data(), mask.mutable_data(),
            n_nodes.mutable_data(), n_hits.mutable_data(), total_energy.mutable_data(), dropped.mutable_data()};
  }

  py::dict toDict() const {
    py::dict d;
    d["features"] = features;
    d["pixels"] = pixels;
    d["neighbours"] = neighbours;
    d["mask"] = mask;
    d["n_nodes"] = n_nodes;
    d["n_hits"] = n_hits;
    d["total_energy"] = total_energy;
    d["dropped_energy_fraction"] = dropped;
    return d;
  }
};

void store(const gvae::Graph& g, const Stacked::Ptrs& p, std::size_t b, std::size_t N, std::size_t k) {
  std::memcpy(p.features + b * N * 4, g.features.data(), N * 4 * sizeof(float));
  std::memcpy(p.pixels + b * N * 2, g.pixels.data(), N * 2 * sizeof(std::int32_t));
  std::memcpy(p.neighbours + b * N * k, g.neighbours.data(), N * k * sizeof(std::int64_t));
  for (std::size_t i = 0; i < N; ++i) p.mask[b * N + i] = g.mask[i] != 0;
  p.n_nodes[b] = g.n_nodes;
  p.n_hits[b] = g.n_hits;
  p.total_energy[b] = g.total_energy;
  p.dropped[b] = g.dropped_energy_fraction;
}

struct HitArrays {
  const std::int64_t* channel;
  const std::int64_t* ieta;
  const std::int64_t* iphi;
  const float* energy;
};

std::vector<gvae::Hit> hitsFromArrays(const HitArrays& a, std::size_t begin, std::size_t end) {
  // Values outside int range are clamped to an invalid index so that the builder reports them.
  auto clampInt = [](std::int64_t v) { return static_cast<int>(std::clamp<std::int64_t>(v, -1, 1 << 20)); };
  std::vector<gvae::Hit> hits(end - begin);
  for (std::size_t i = begin; i < end; ++i)
    hits[i - begin] = {clampInt(a.channel[i]), clampInt(a.ieta[i]), clampInt(a.iphi[i]), a.energy[i]};
  return hits;
}

void checkSameLength(const std::vector<py::ssize_t>& sizes) {
  for (auto s : sizes)
    if (s != sizes[0])
      throw gvae::InvalidInput("hit arrays channel, ieta, iphi, energy must have the same length");
}

py::dict buildGraph(const CArray<std::int64_t>& channel, const CArray<std::int64_t>& ieta,
                    const CArray<std::int64_t>& iphi, const CArray<float>& energy, int k, int max_nodes,
                    long jet) {
  checkSameLength({channel.size(), ieta.size(), iphi.size(), energy.size()});
  const gvae::GraphBuilder builder({k, max_nodes});
  const HitArrays arrays{channel.data(), ieta.data(), iphi.data(), energy.data()};
  const auto hits = hitsFromArrays(arrays, 0, static_cast<std::size_t>(energy.size()));
  gvae::Graph g;
  {
    py::gil_scoped_release release;
    g = builder.build(hits, jet);
  }
  Stacked s(1, max_nodes, k);
  store(g, s.ptrs(), 0, static_cast<std::size_t>(max_nodes), static_cast<std::size_t>(k));
  py::dict d;
  d["features"] = s.features[py::int_(0)];
  d["pixels"] = s.pixels[py::int_(0)];
  d["neighbours"] = s.neighbours[py::int_(0)];
  d["mask"] = s.mask[py::int_(0)];
  d["n_nodes"] = g.n_nodes;
  d["n_hits"] = g.n_hits;
  d["total_energy"] = g.total_energy;
  d["dropped_energy_fraction"] = g.dropped_energy_fraction;
  return d;
}

py::dict buildGraphsFromImages(const CArray<float>& images, int k, int max_nodes, long first_jet, int threads) {
  if (images.ndim() != 4 || images.shape(1) != kChannels || images.shape(2) != kSize || images.shape(3) != kSize)
    throw gvae::InvalidInput("images must have shape [n, 3, 125, 125]");
  const gvae::GraphBuilder builder({k, max_nodes});
  const auto n = static_cast<std::size_t>(images.shape(0));
  Stacked s(static_cast<py::ssize_t>(n), max_nodes, k);
  const auto p = s.ptrs();
  const float* data = images.data();
  {
    py::gil_scoped_release release;
    builder.buildMany(
        n, [&](std::size_t b, std::vector<gvae::Hit>& hits) {
          gvae::GraphBuilder::imageHits(data + b * kChannels * kSize * kSize, hits);
        },
        [&](std::size_t b, const gvae::Graph& g) {
          store(g, p, b, static_cast<std::size_t>(max_nodes), static_cast<std::size_t>(k));
        },
        threads, first_jet);
  }
  return s.toDict();
}

py::dict buildGraphsFromHits(const CArray<std::int64_t>& offsets, const CArray<std::int64_t>& channel,
                             const CArray<std::int64_t>& ieta, const CArray<std::int64_t>& iphi,
                             const CArray<float>& energy, int k, int max_nodes, long first_jet, int threads) {
  checkSameLength({channel.size(), ieta.size(), iphi.size(), energy.size()});
  if (offsets.ndim() != 1 || offsets.size() < 1)
    throw gvae::InvalidInput("offsets must be a 1-d array [n_jets + 1]");
  const auto* off = offsets.data();
  const auto n = static_cast<std::size_t>(offsets.size() - 1);
  if (off[0] != 0 || off[n] != energy.size())
    throw gvae::InvalidInput("offsets must start at 0 and end at the number of hits");
  for (std::size_t b = 0; b < n; ++b)
    if (off[b + 1] < off[b]) throw gvae::InvalidInput("offsets must be non-decreasing");
  const gvae::GraphBuilder builder({k, max_nodes});
  Stacked s(static_cast<py::ssize_t>(n), max_nodes, k);
  const auto p = s.ptrs();
  const HitArrays arrays{channel.data(), ieta.data(), iphi.data(), energy.data()};
  {
    py::gil_scoped_release release;
    builder.buildMany(
        n, [&](std::size_t b, std::vector<gvae::Hit>& hits) {
          hits = hitsFromArrays(arrays, static_cast<std::size_t>(off[b]), static_cast<std::size_t>(off[b + 1]));
        },
        [&](std::size_t b, const gvae::Graph& g) {
          store(g, p, b, static_cast<std::size_t>(max_nodes), static_cast<std::size_t>(k));
        },
        threads, first_jet);
  }
  return s.toDict();
}

}  // namespace

void bind_graph(py::module_& m) {
  m.def("build_graph", &buildGraph, py::arg("channel"), py::arg("ieta"), py::arg("iphi"), py::arg("energy"),
        py::arg("k") = 8, py::arg("max_nodes") = 400, py::arg("jet") = 0,
        "Graph of one jet from hit arrays (gvae::GraphBuilder). Returns a dict: features f32 [N,4], "
        "pixels i32 [N,2], neighbours i64 [N,k], mask bool [N], n_nodes, n_hits, total_energy, "
        "dropped_energy_fraction. Raises gvae.errors.InvalidInput naming jet, hit and field.");
  m.def("build_graphs", &buildGraphsFromImages, py::arg("images"), py::arg("k") = 8, py::arg("max_nodes") = 400,
        py::arg("first_jet") = 0, py::arg("threads") = 1,
        "Graphs of n images [n,3,125,125] (float32): dict of stacked arrays as gvae.graph.build_graphs. "
        "Runs on `threads` threads without the GIL.");
  m.def("build_graphs_from_hits", &buildGraphsFromHits, py::arg("offsets"), py::arg("channel"), py::arg("ieta"),
        py::arg("iphi"), py::arg("energy"), py::arg("k") = 8, py::arg("max_nodes") = 400, py::arg("first_jet") = 0,
        py::arg("threads") = 1,
        "Graphs of n jets given as flat hit arrays; jet b holds hits offsets[b]:offsets[b+1]. "
        "Returns a dict of stacked arrays as build_graphs.");
}
