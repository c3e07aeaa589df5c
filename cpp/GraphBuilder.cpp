// Jet hits -> padded kNN graph (docs/DESIGN.md section 4); bit-identical to python/gvae/graph.py.
#include "gvae/GraphBuilder.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gvae/Errors.h"
#include "gvae/Geometry.h"

namespace gvae {
namespace {

constexpr int kSize = geometry::kImageSize;
constexpr int kTower = geometry::kHcalTowerPixels;

struct Node {
  float energy;    // float32 sum: the feature and the ordering key
  int channel;
  int ieta;
  int iphi;
  double sum;      // float64 sum of the hits' energies (input order)
};

[[noreturn]] void invalid(long jet, std::size_t hit, const char* field, const std::string& what) {
  std::ostringstream msg;
  msg << "jet " << jet << ", hit " << hit << ", field '" << field << "': " << field << " " << what;
  throw InvalidInput(msg.str());
}

// Same order of checks as gvae.graphs.build.validate: channel, ieta, iphi, energy (finite, then >= 0).
void validate(const Hit* hits, std::size_t n, long jet) {
  for (std::size_t i = 0; i < n; ++i) {
    const Hit& h = hits[i];
    if (h.channel < 0 || h.channel >= geometry::kNumChannels)
      invalid(jet, i, "channel", "must be 0 (track), 1 (ecal) or 2 (hcal), got " + std::to_string(h.channel));
    if (h.ieta < 0 || h.ieta >= kSize)
      invalid(jet, i, "ieta", "must be in [0, 125), got " + std::to_string(h.ieta));
    if (h.iphi < 0 || h.iphi >= kSize)
      invalid(jet, i, "iphi", "must be in [0, 125), got " + std::to_string(h.iphi));
    if (!std::isfinite(h.energy)) {
      std::ostringstream v;
      v << "must be finite, got " << h.energy;
      invalid(jet, i, "energy", v.str());
    }
    if (h.energy < 0.f) {
      std::ostringstream v;
      v << "must be >= 0, got " << h.energy;
      invalid(jet, i, "energy", v.str());
    }
  }
}

// Steps 2-3: merge hits into nodes (HCAL per tower, others per pixel; float64 sums in input
// order), then order by float32 energy descending, ties by channel, ieta, iphi.
std::vector<Node> makeNodes(const Hit* hits, std::size_t n) {
  struct Keyed {
    std::int32_t key;
    std::uint32_t index;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Hit& h = hits[i];
    if (h.energy == 0.f) continue;
    int ieta = h.ieta, iphi = h.iphi;
    if (h.channel == geometry::kHcal) {
      ieta = (ieta / kTower) * kTower + kTower / 2;
      iphi = (iphi / kTower) * kTower + kTower / 2;
    }
    keyed.push_back({(h.channel * kSize + ieta) * kSize + iphi, static_cast<std::uint32_t>(i)});
  }
  // (key, input index) is unique: the sort is deterministic and keeps input order within a node.
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    return a.key != b.key ? a.key < b.key : a.index < b.index;
  });
  std::vector<Node> nodes;
  for (std::size_t i = 0; i < keyed.size();) {
    const std::int32_t key = keyed[i].key;
    double sum = 0.0;
    for (; i < keyed.size() && keyed[i].key == key; ++i) sum += static_cast<double>(hits[keyed[i].index].energy);
    nodes.push_back({static_cast<float>(sum), key / (kSize * kSize), (key / kSize) % kSize, key % kSize, sum});
  }
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) {
    if (a.energy != b.energy) return a.energy > b.energy;
    if (a.channel != b.channel) return a.channel < b.channel;
    if (a.ieta != b.ieta) return a.ieta < b.ieta;
    return a.iphi < b.iphi;
  });
  return nodes;
}

// Step 5: kNN over the first n nodes. Key d2 * n + j is unique per row, so keeping the m smallest
// keys gives exactly "distance, then index ascending". The nodes are binned into square cells of
// kCell x kCell pixels; each node searches rings of cells around its own (Chebyshev cell distance
// R = 0, 1, 2, ...). Every node of ring R is at least (R - 1) * kCell + e + 1 pixels away along eta
// or phi (e: the node's distance in pixels to the nearest edge of its own cell), so once the heap
// holds m keys and that bound's key exceeds the m-th, no farther node can be nearer or tie: the
// search is exact. (A sweep along eta alone, before, visited whole eta columns of
// a dense core: 2-3x slower on generated jets.)
constexpr int kCell = 4;
constexpr int kCells = (kSize + kCell - 1) / kCell;

void knn(const std::vector<Node>& nodes, int n, int k, std::int64_t* out) {
  const int m = std::min(k, n - 1);
  // Counting sort of the nodes by cell: members of cell c are order[start[c] .. start[c + 1]).
  std::vector<int> start(static_cast<std::size_t>(kCells * kCells + 1), 0);
  std::vector<int> cell(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const Node& a = nodes[static_cast<std::size_t>(i)];
    cell[static_cast<std::size_t>(i)] = (a.ieta / kCell) * kCells + a.iphi / kCell;
    ++start[static_cast<std::size_t>(cell[static_cast<std::size_t>(i)]) + 1];
  }
  for (std::size_t c = 1; c < start.size(); ++c) start[c] += start[c - 1];
  std::vector<int> fill(start.begin(), start.end() - 1);
  std::vector<int> order(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(fill[static_cast<std::size_t>(cell[static_cast<std::size_t>(i)])]++)] = i;
  struct Point {
    std::int64_t ieta, iphi;
  };
  std::vector<Point> points(static_cast<std::size_t>(n));  // cell order: the scan reads them contiguously
  for (int p = 0; p < n; ++p) {
    const Node& b = nodes[static_cast<std::size_t>(order[static_cast<std::size_t>(p)])];
    points[static_cast<std::size_t>(p)] = {b.ieta, b.iphi};
  }

  std::vector<std::int64_t> heap;  // max-heap of the m smallest keys seen so far
  heap.reserve(static_cast<std::size_t>(std::max(m, 0)) + 1);
  for (int i = 0; i < n; ++i) {
    std::int64_t* row = out + static_cast<std::ptrdiff_t>(i) * k;
    heap.clear();
    const Node& a = nodes[static_cast<std::size_t>(i)];
    auto scanCell = [&](int ce, int cp) {
      const int c = ce * kCells + cp;
      for (int p = start[static_cast<std::size_t>(c)]; p < start[static_cast<std::size_t>(c) + 1]; ++p) {
        const int j = order[static_cast<std::size_t>(p)];
        if (j == i) continue;
        const std::int64_t di = a.ieta - points[static_cast<std::size_t>(p)].ieta;
        const std::int64_t dj = a.iphi - points[static_cast<std::size_t>(p)].iphi;
        const std::int64_t key = (di * di + dj * dj) * n + j;
        if (static_cast<int>(heap.size()) < m) {
          heap.push_back(key);
          std::push_heap(heap.begin(), heap.end());
        } else if (key < heap.front()) {
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = key;
          std::push_heap(heap.begin(), heap.end());
        }
      }
    };
    if (m > 0) {
      const int ce = a.ieta / kCell, cp = a.iphi / kCell;
      // pixels from the node to the nearest edge of its cell's 1-pixel frame: ring r starts
      // (r - 1) * kCell + edge + 1 pixels away along eta or phi
      const int edge = std::min({a.ieta - ce * kCell, (ce + 1) * kCell - 1 - a.ieta, a.iphi - cp * kCell,
                                 (cp + 1) * kCell - 1 - a.iphi});
      for (int r = 0; r < kCells; ++r) {
        const std::int64_t gap = static_cast<std::int64_t>(r - 1) * kCell + edge + 1;  // nearest offset in ring r
        if (r > 0 && static_cast<int>(heap.size()) == m && gap * gap * n > heap.front()) break;
        const int e0 = ce - r, e1 = ce + r, p0 = cp - r, p1 = cp + r;
        if (e0 < 0 && e1 >= kCells && p0 < 0 && p1 >= kCells) break;  // the ring lies outside the grid
        const int plo = std::max(p0, 0), phi = std::min(p1, kCells - 1);
        if (e0 >= 0)
          for (int q = plo; q <= phi; ++q) scanCell(e0, q);
        if (r > 0 && e1 < kCells)
          for (int q = plo; q <= phi; ++q) scanCell(e1, q);
        for (int e = std::max(e0 + 1, 0); e <= std::min(e1 - 1, kCells - 1); ++e) {
          if (p0 >= 0) scanCell(e, p0);
          if (r > 0 && p1 < kCells) scanCell(e, p1);
        }
      }
      std::sort_heap(heap.begin(), heap.end());
    }
    for (std::size_t s = 0; s < heap.size(); ++s) row[s] = heap[s] % n;
    for (int s = static_cast<int>(heap.size()); s < k; ++s) row[s] = i;
  }
}

}  // namespace

GraphBuilder::GraphBuilder(GraphConfig config) : config_(config) {
  if (config_.k < 1)
    throw InvalidInput("GraphConfig: k must be >= 1, got " + std::to_string(config_.k));
  if (config_.max_nodes < 1)
    throw InvalidInput("GraphConfig: max_nodes must be >= 1, got " + std::to_string(config_.max_nodes));
}

Graph GraphBuilder::build(const Hit* hits, std::size_t n, long jet_index) const {
  if (n > 0 && hits == nullptr) throw InvalidInput("jet " + std::to_string(jet_index) + ": null hits pointer");
  validate(hits, n, jet_index);
  const std::vector<Node> nodes = makeNodes(hits, n);

  const int k = config_.k;
  const int max_nodes = config_.max_nodes;
  const auto N = static_cast<std::size_t>(max_nodes);
  Graph g;
  g.n_hits = static_cast<int>(nodes.size());
  g.n_nodes = std::min(g.n_hits, max_nodes);
  double total = 0.0, dropped = 0.0;
  for (const Node& node : nodes) total += node.sum;
  for (std::size_t i = static_cast<std::size_t>(g.n_nodes); i < nodes.size(); ++i) dropped += nodes[i].sum;
  g.total_energy = total;
  g.dropped_energy_fraction = total > 0.0 ? dropped / total : 0.0;

  g.features.assign(N * 4, 0.f);
  g.pixels.assign(N * 2, 0);
  g.mask.assign(N, 0);
  g.neighbours.resize(N * static_cast<std::size_t>(k));
  for (int i = 0; i < g.n_nodes; ++i) {
    const Node& node = nodes[static_cast<std::size_t>(i)];
    float* f = &g.features[static_cast<std::size_t>(i) * 4];
    f[0] = static_cast<float>(geometry::pixelToOffset(node.ieta));
    f[1] = static_cast<float>(geometry::pixelToOffset(node.iphi));
    f[2] = node.energy;
    f[3] = static_cast<float>(node.channel);
    g.pixels[static_cast<std::size_t>(i) * 2] = node.ieta;
    g.pixels[static_cast<std::size_t>(i) * 2 + 1] = node.iphi;
    g.mask[static_cast<std::size_t>(i)] = 1;
  }
  knn(nodes, g.n_nodes, k, g.neighbours.data());
  for (int i = g.n_nodes; i < max_nodes; ++i)
    std::fill_n(g.neighbours.begin() + static_cast<std::ptrdiff_t>(i) * k, k, static_cast<std::int64_t>(i));
  return g;
}

void GraphBuilder::buildMany(std::size_t n, const HitSource& source, const GraphSink& sink, int threads,
                             long first_jet) const {
  if (n == 0) return;
  const std::size_t t = std::clamp<std::size_t>(static_cast<std::size_t>(std::max(threads, 1)), 1, n);
  std::vector<std::exception_ptr> errors(n);
  // Worker w builds jets w, w + t, w + 2t, ...: a fixed assignment, so nothing is shared but
  // the read-only builder, the caller's source/sink and each jet's own error slot.
  auto work = [&](std::size_t w) {
    std::vector<Hit> hits;
    for (std::size_t b = w; b < n; b += t) {
      try {
        source(b, hits);
        sink(b, build(hits, first_jet + static_cast<long>(b)));
      } catch (...) {
        errors[b] = std::current_exception();
      }
    }
  };
  if (t == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    pool.reserve(t);
    try {
      for (std::size_t w = 0; w < t; ++w) pool.emplace_back(work, w);
    } catch (...) {
      for (auto& th : pool) th.join();
      throw;
    }
    for (auto& th : pool) th.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

std::vector<Graph> GraphBuilder::buildMany(const std::vector<std::vector<Hit>>& jets, int threads,
                                           long first_jet) const {
  std::vector<Graph> graphs(jets.size());
  buildMany(
      jets.size(), [&jets](std::size_t b, std::vector<Hit>& hits) { hits = jets[b]; },
      [&graphs](std::size_t b, const Graph& g) { graphs[b] = g; }, threads, first_jet);
  return graphs;
}

void GraphBuilder::imageHits(const float* image, std::vector<Hit>& hits) {
  hits.clear();
  for (int c = 0; c < geometry::kNumChannels; ++c)
    for (int i = 0; i < kSize; ++i)
      for (int j = 0; j < kSize; ++j) {
        const float e = image[(c * kSize + i) * kSize + j];
        if (e != 0.f) hits.push_back(Hit{c, i, j, e});  // NaN != 0: kept, and rejected by build()
      }
}

}  // namespace gvae
