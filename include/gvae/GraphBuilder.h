// Jet hits -> kNN graph (docs/DESIGN.md section 4). Bit-identical to python/gvae/graph.py.
//
// Algorithm, for one jet:
//   1. hits (channel, ieta, iphi, energy) are validated (channel in {0,1,2}, 0 <= ieta,iphi < 125,
//      energy finite and >= 0); zero-energy hits are ignored.
//   2. HCAL hits are summed per 5x5 tower (node at the tower centre pixel 5*t+2); track/ECAL hits at
//      the same pixel are summed. Sums are accumulated in double, then cast to float.
//   3. Nodes are ordered by energy descending, ties by channel, ieta, iphi ascending.
//   4. The first max_nodes nodes are kept; n_hits counts nodes before truncation and
//      dropped_energy_fraction = E(dropped) / E(all) (double).
//   5. kNN over all channels together in integer pixel units: d2 = di^2 + dj^2, ties by node index
//      ascending, self excluded; missing slots (fewer than k other nodes) and padding rows hold the
//      node's own index.
#ifndef GVAE_GRAPHBUILDER_H
#define GVAE_GRAPHBUILDER_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace gvae {

/// One detector hit in the 125 x 125 window. Track/ECAL: a pixel; HCAL: a pixel or a tower
/// (any pixel of the tower, e.g. its centre 5*t+2). Energy in GeV.
struct Hit {
  int channel = 0;  ///< 0 track, 1 ecal, 2 hcal
  int ieta = 0;     ///< 0..124
  int iphi = 0;     ///< 0..124
  float energy = 0.f;
};

/// Graph shape: neighbours per node and padded node count (they travel in the model contract).
struct GraphConfig {
  int k = 8;
  int max_nodes = 400;
};

/// One jet as a padded graph. Row-major arrays over max_nodes rows.
struct Graph {
  std::vector<float> features;         ///< [max_nodes * 4]: x, y, energy, channel (zeros on padding)
  std::vector<std::int32_t> pixels;    ///< [max_nodes * 2]: centre pixel (ieta, iphi) (zeros on padding)
  std::vector<std::int64_t> neighbours;///< [max_nodes * k]: node indices (own index on padding)
  std::vector<std::uint8_t> mask;      ///< [max_nodes]: 1 for real nodes
  int n_nodes = 0;                     ///< real nodes (<= max_nodes)
  int n_hits = 0;                      ///< nodes before truncation
  double total_energy = 0.0;           ///< GeV, sum over all nodes before truncation
  double dropped_energy_fraction = 0.0;///< E(truncated nodes) / total_energy (0 when empty)
};

/// Builds graphs. Stateless after construction: const, thread-safe, no globals.
class GraphBuilder {
public:
  /// Throws gvae::InvalidInput if k < 1 or max_nodes < 1.
  explicit GraphBuilder(GraphConfig config);

  const GraphConfig& config() const { return config_; }

  /// Build the graph of one jet from `n` hits. `jet_index` only labels error messages.
  /// Throws gvae::InvalidInput naming the jet, hit and field for an unknown channel, ieta/iphi
  /// outside [0, 125), or a NaN/Inf/negative energy.
  Graph build(const Hit* hits, std::size_t n, long jet_index) const;

  Graph build(const std::vector<Hit>& hits, long jet_index) const {
    return build(hits.data(), hits.size(), jet_index);
  }

  /// Fills `hits` with the hits of jet b (0 <= b < n). Called from worker threads, concurrently
  /// for different b: it must only read shared data.
  using HitSource = std::function<void(std::size_t b, std::vector<Hit>& hits)>;
  /// Receives the graph of jet b. Called from worker threads, concurrently for different b.
  using GraphSink = std::function<void(std::size_t b, const Graph& graph)>;

  /// Build the graphs of n jets on `threads` threads (clamped to [1, n]; 1 = the calling thread
  /// only). Jet b is labelled first_jet + b in error messages. Every jet is built; if any fail,
  /// the gvae::InvalidInput of the lowest failing b is rethrown after all threads joined (sink
  /// calls already made for other jets stand). The graphs do not depend on `threads`.
  void buildMany(std::size_t n, const HitSource& source, const GraphSink& sink, int threads = 1,
                 long first_jet = 0) const;

  /// As above, returning the graphs in jet order.
  std::vector<Graph> buildMany(const std::vector<std::vector<Hit>>& jets, int threads = 1, long first_jet = 0) const;

  /// The nonzero pixels of one image [3][125][125] (float32, row-major over channel, ieta, iphi)
  /// as hits in that order, appended to `hits` after clearing it. NaN pixels are kept (build()
  /// then rejects them), as python's gvae.graphs.build.hits_from_image does.
  static void imageHits(const float* image, std::vector<Hit>& hits);

private:
  GraphConfig config_;
};

}  // namespace gvae

#endif  // GVAE_GRAPHBUILDER_H
