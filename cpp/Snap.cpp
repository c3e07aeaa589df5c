// Snapping decoded hit sets to detector cells (see gvae/Snap.h; python: gvae.model.snap).
#include "gvae/Snap.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "gvae/Geometry.h"

namespace gvae {

void snapJet(const Contract& c, const float* xyu, const std::int64_t* channel, const bool* mask,
             std::int64_t slots, std::vector<RecoHit>& out, SnapStats* stats) {
  constexpr std::int64_t kN = geometry::kImageSize, kT = geometry::kHcalTowerPixels;
  const double uMax = (std::log(c.max_hit_energy) - c.log_energy.mean) / c.log_energy.std;
  // (cell key, energy) in slot order; merged below by a stable sort on the key
  std::vector<std::pair<std::int64_t, double>> cells;
  cells.reserve(static_cast<std::size_t>(slots));
  SnapStats local;
  for (std::int64_t s = 0; s < slots; ++s) {
    if (!mask[s]) continue;
    const std::int64_t ch = channel[s];
    if (ch < 0 || ch > 2) continue;
    const double x = static_cast<double>(xyu[3 * s]) * c.x.std + c.x.mean;
    const double y = static_cast<double>(xyu[3 * s + 1]) * c.y.std + c.y.mean;
    const double e = std::exp(std::min(static_cast<double>(xyu[3 * s + 2]), uMax) * c.log_energy.std +
                              c.log_energy.mean);
    const double pe = std::floor(x / geometry::kPixelSize + geometry::kCentrePixel + 0.5);
    const double pp = std::floor(y / geometry::kPixelSize + geometry::kCentrePixel + 0.5);
    if (!(pe >= 0.0 && pe < kN && pp >= 0.0 && pp < kN)) {
      ++local.outside[static_cast<std::size_t>(ch)];
      local.energy_lost += e;
      continue;
    }
    std::int64_t ieta = static_cast<std::int64_t>(pe), iphi = static_cast<std::int64_t>(pp);
    if (ch == geometry::kHcal) {
      ieta = ieta / kT * kT + kT / 2;
      iphi = iphi / kT * kT + kT / 2;
    }
    cells.emplace_back((ch * kN + ieta) * kN + iphi, e);
  }
  std::stable_sort(cells.begin(), cells.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < cells.size();) {
    const std::int64_t key = cells[i].first;
    double energy = 0.0;
    std::size_t j = i;
    for (; j < cells.size() && cells[j].first == key; ++j) energy += cells[j].second;  // slot order
    const int ch = static_cast<int>(key / (kN * kN));
    local.merged[static_cast<std::size_t>(ch)] += static_cast<int>(j - i - 1);
    if (energy >= c.thresholds[static_cast<std::size_t>(ch)]) {
      RecoHit h;
      h.channel = ch;
      h.ieta = static_cast<int>((key / kN) % kN);
      h.iphi = static_cast<int>(key % kN);
      h.x = static_cast<float>(geometry::pixelToOffset(h.ieta));
      h.y = static_cast<float>(geometry::pixelToOffset(h.iphi));
      h.energy = static_cast<float>(energy);
      out.push_back(h);
    } else {
      ++local.below_threshold[static_cast<std::size_t>(ch)];
      local.energy_lost += energy;
    }
    i = j;
  }
  if (stats != nullptr) *stats = local;
}

}  // namespace gvae
