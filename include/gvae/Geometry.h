// Image geometry shared with python/gvae/geometry.py (docs/DESIGN.md section 1).
#ifndef GVAE_GEOMETRY_H
#define GVAE_GEOMETRY_H

#include <cmath>

namespace gvae::geometry {

inline constexpr int kNumChannels = 3;          // track, ecal, hcal
inline constexpr int kTrack = 0;
inline constexpr int kEcal = 1;
inline constexpr int kHcal = 2;
inline constexpr int kImageSize = 125;          // pixels per axis (ECAL crystals)
inline constexpr double kPixelSize = 0.0174;    // eta/phi extent of one crystal
inline constexpr int kCentrePixel = 62;         // the jet axis is the centre of this pixel
inline constexpr int kHcalTowerPixels = 5;      // an HCAL tower spans 5 x 5 crystals

/// Offset from the jet axis (eta or phi) of the centre of pixel index `pixel`.
inline constexpr double pixelToOffset(double pixel) { return (pixel - kCentrePixel) * kPixelSize; }

/// The pixel whose centre is nearest to `offset` (eta or phi from the jet axis), clamped to the
/// window: floor(offset / kPixelSize + kCentrePixel + 0.5) in double (halves round up), then
/// clamped to [0, kImageSize - 1]; NaN gives 0. python: gvae.geometry.nearest_pixel (same rule,
/// same float64 operations, so the two agree bit for bit).
inline int nearestPixel(double offset) noexcept {
  const double p = std::floor(offset / kPixelSize + kCentrePixel + 0.5);
  if (!(p >= 0.0)) return 0;  // also NaN
  return p > kImageSize - 1 ? kImageSize - 1 : static_cast<int>(p);
}

}  // namespace gvae::geometry

#endif  // GVAE_GEOMETRY_H
