// Decoded hit sets -> detector cells (contract v2), the rule of python gvae.model.snap.snap_to_detector.
#ifndef GVAE_SNAP_H
#define GVAE_SNAP_H

#include <array>
#include <cstdint>
#include <vector>

#include "gvae/Contract.h"
#include "gvae/Hits.h"

namespace gvae {

/// What snapping removed from one jet (per channel): hits outside the window, hits merged into an
/// occupied cell, cells below the readout threshold; and the energy they carried (GeV).
struct SnapStats {
  std::array<int, 3> outside{};
  std::array<int, 3> merged{};
  std::array<int, 3> below_threshold{};
  double energy_lost = 0.0;
};

/// Snap one decoded jet: `xyu` [S,3] normalised (x', y', u'), `channel` [S], `mask` [S] (true = hit),
/// with the contract's normalisation, snap thresholds and max_hit_energy, all in float64:
/// x = x' std + mean, E = exp(min(u', u_max) std + mean); pixel = floor(x / 0.0174 + 62 + 0.5);
/// outside the 125 x 125 window dropped; HCAL to the tower's centre pixel; same (channel, cell)
/// summed in slot order; cells below thresholds[channel] dropped. Hits ordered by (channel, ieta,
/// iphi), x/y at the cell centre, energy as float. Appends to `out`; `stats` may be null.
void snapJet(const Contract& contract, const float* xyu, const std::int64_t* channel, const bool* mask,
             std::int64_t slots, std::vector<RecoHit>& out, SnapStats* stats = nullptr);

}  // namespace gvae

#endif  // GVAE_SNAP_H
