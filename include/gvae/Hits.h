// Per-jet input hits and reconstructed output hits of the gvae producer (docs/DESIGN.md sections 3-5).
#ifndef GVAE_HITS_H
#define GVAE_HITS_H

#include <array>
#include <cstdint>
#include <vector>

#include "gvae/GraphBuilder.h"  // gvae::Hit {channel, ieta, iphi, energy}

namespace gvae {

/// The hits of one jet: detector pixels/towers in the 125 x 125 window around the jet axis.
/// `jet_id` only labels the jet (error messages, results, per-jet sampling seeds); any value works.
struct JetHits {
  std::uint64_t jet_id = 0;
  std::vector<Hit> hits;
};

/// One reconstructed hit in physical units. Contract v1 (paper decoder): one per real graph node of
/// the input jet. Contract v2 (latent decoder): one per detector cell of the decoded hit set after
/// snapping (x, y = the cell centre's offsets; HCAL at its tower's centre pixel).
struct RecoHit {
  int channel = 0;     ///< 0 track, 1 ecal, 2 hcal (v1: the input node's channel)
  float x = 0.f;       ///< eta offset from the jet axis
  float y = 0.f;       ///< phi offset from the jet axis
  int ieta = 0;        ///< geometry::nearestPixel(x): nearest pixel, halves up, clamped to [0, 124]
  int iphi = 0;        ///< geometry::nearestPixel(y)
  float energy = 0.f;  ///< GeV (> 0)
};

/// What the graph builder did to one jet, and the per-channel balance in and out.
struct JetDiagnostics {
  int n_nodes = 0;                       ///< nodes given to the model (<= max_nodes)
  int n_hits = 0;                        ///< nodes before truncation to max_nodes
  double total_energy = 0.0;             ///< GeV, all nodes before truncation
  double dropped_energy_fraction = 0.0;  ///< energy in truncated nodes / total_energy
  std::array<int, 3> counts_in{};        ///< input hits per channel (track, ECAL, HCAL)
  std::array<double, 3> energy_in{};     ///< GeV per channel of the input hits
  std::array<int, 3> counts_out{};       ///< output hits per channel (= hits of the result)
  std::array<double, 3> energy_out{};    ///< GeV per channel of the output hits
  std::array<int, 3> decoded{};          ///< v2: hits per channel the decoder emitted, before snapping
};

/// The producer's answer for one jet. v1: n_nodes reconstructed hits, in input node order (energy
/// descending, DESIGN section 4.3). v2: the decoded hit set snapped to cells, ordered by (channel,
/// ieta, iphi).
struct JetResult {
  std::uint64_t jet_id = 0;
  std::vector<RecoHit> hits;
  JetDiagnostics diagnostics;
};

}  // namespace gvae

#endif  // GVAE_HITS_H
