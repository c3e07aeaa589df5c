"""Image geometry shared by every stage: the CMS end-to-end jet-image window.

One source of truth for the numbers that Python, the exported model contract and the C++
library must agree on. Images are ``[channel, ieta, iphi]`` with channel order
``[track pT, ECAL, HCAL]``, energies in GeV, 125 x 125 pixels at ECAL crystal granularity
(0.0174 x 0.0174 in eta x phi). HCAL towers cover 5 x 5 crystals.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

CHANNELS: tuple[str, ...] = ("track", "ecal", "hcal")
TRACK, ECAL, HCAL = 0, 1, 2
N_CHANNELS = len(CHANNELS)
IMAGE_SIZE = 125
PIXEL_SIZE = 0.0174  # eta and phi extent of one ECAL crystal
CENTRE_PIXEL = 62  # the jet axis sits at the centre of pixel (62, 62)
HCAL_TOWER_PIXELS = 5  # an HCAL tower spans 5 x 5 ECAL crystals
N_TOWERS = IMAGE_SIZE // HCAL_TOWER_PIXELS  # 25 towers per axis


def pixel_to_offset(pixel: float) -> float:
    """Offset from the jet axis (eta or phi units) of the centre of a pixel index."""
    return (pixel - CENTRE_PIXEL) * PIXEL_SIZE


def offset_to_pixel(offset: float) -> float:
    """Inverse of :func:`pixel_to_offset` (fractional pixel index)."""
    return offset / PIXEL_SIZE + CENTRE_PIXEL


def nearest_pixel(offset: ArrayLike) -> np.ndarray:
    """Pixel index int64 (same shape as ``offset``) whose centre is nearest to each eta/phi offset.

    The one rounding rule of reconstructed hits (C++: ``gvae::geometry::nearestPixel``):
    ``floor(offset / PIXEL_SIZE + CENTRE_PIXEL + 0.5)`` computed in float64 (halves round up),
    clamped to ``[0, IMAGE_SIZE - 1]``; NaN gives 0.
    """
    p = np.floor(np.asarray(offset, dtype=np.float64) / PIXEL_SIZE + CENTRE_PIXEL + 0.5)
    return np.clip(np.nan_to_num(p, nan=0.0), 0, IMAGE_SIZE - 1).astype(np.int64)


def as_dict() -> dict:
    """The geometry as written into the dataset metadata and the model contract."""
    return {
        "channels": list(CHANNELS),
        "image_size": IMAGE_SIZE,
        "pixel_size": PIXEL_SIZE,
        "centre_pixel": CENTRE_PIXEL,
        "hcal_tower_pixels": HCAL_TOWER_PIXELS,
        "energy_unit": "GeV",
        "coordinate_unit": "eta/phi offset from the jet axis",
    }
