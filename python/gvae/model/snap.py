"""Decoded sets -> detector hits: pixels, HCAL tower centres and the thresholds of :mod:`gvae.data.detector`.

The latent decoder emits continuous positions and energies. :func:`snap_to_detector` turns them into
what the detector could have read out:

1. normalised ``(x', y', u')`` -> physical ``(x, y, E)`` with the training normalisation (DESIGN §5);
   energies are capped at :data:`MAX_HIT_ENERGY` so ``exp`` cannot overflow;
2. track and ECAL hits go to the pixel ``round(x / 0.0174) + 62`` (DESIGN §1), HCAL hits to the tower
   containing that pixel, placed at the tower's centre pixel ``5 t + 2`` (DESIGN §3.1);
3. hits outside the 125 x 125 window are dropped; hits of one channel on the same cell are summed;
4. cells below the readout thresholds are dropped: ECAL ``ecal_threshold``, HCAL ``hcal_threshold``,
   tracks below the curling pT ``0.3 B R / 2`` (they never reach the calorimeter surface).

The result is a :class:`gvae.jets.HitBatch` table (jet-major, the form the hit file formats store),
which :func:`images` paints into end-to-end images with the readers' painting code and
:func:`evaluation_hits` turns into per-jet :class:`gvae.jets.Hits` (pixel-centre positions).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gvae import geometry
from gvae.data.detector import DetectorConfig
from gvae.io._common import hits_to_images
from gvae.jets import HitBatch as HitTable
from gvae.model.set_decoder import DecodedSet
from gvae.graphs.normalisation import Normalisation

#: Largest energy of one decoded hit in GeV (twice the LHC beam energy).
MAX_HIT_ENERGY = 14000.0
_T = geometry.HCAL_TOWER_PIXELS
_N = geometry.IMAGE_SIZE


@dataclass
class SnapStats:
    """What snapping removed: hits outside the window, merged into an occupied cell, below threshold
    (each ``[3]`` per channel, summed over the batch), and the energy lost to the window and thresholds."""

    outside: np.ndarray
    merged: np.ndarray
    below_threshold: np.ndarray
    energy_lost: float


def thresholds(detector: DetectorConfig = DetectorConfig()) -> np.ndarray:
    """Readout threshold per channel in GeV: ``[curl pT, ecal_threshold, hcal_threshold]``."""
    return np.array([detector.curl_pt, detector.ecal_threshold, detector.hcal_threshold])


def snap_to_detector(decoded: DecodedSet, norm: Normalisation, detector: DetectorConfig = DetectorConfig()
                     ) -> tuple[HitTable, SnapStats]:
    """Snap a decoded batch (``xyu [B, S, 3]``, ``channel [B, S]``, ``mask [B, S]``) to detector cells.

    Returns the hit table of the ``B`` jets (jet-major; within a jet by channel, ieta, iphi; HCAL hits
    at tower centre pixels with the tower energy) and the :class:`SnapStats`.
    """
    xyu = decoded.xyu.detach().to(torch.float64).cpu().numpy()
    channel = decoded.channel.detach().cpu().numpy().astype(np.int64)
    mask = decoded.mask.detach().cpu().numpy().astype(bool)
    b = xyu.shape[0]
    jet = np.broadcast_to(np.arange(b)[:, None], mask.shape)[mask]
    ch = channel[mask]
    v = xyu[mask]
    u_max = (np.log(MAX_HIT_ENERGY) - norm.mean_u) / norm.std_u
    x = v[:, 0] * norm.std_x + norm.mean_x
    y = v[:, 1] * norm.std_y + norm.mean_y
    e = np.exp(np.minimum(v[:, 2], u_max) * norm.std_u + norm.mean_u)
    ieta = np.floor(x / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)
    iphi = np.floor(y / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)
    inside = (ieta >= 0) & (ieta < _N) & (iphi >= 0) & (iphi < _N)
    outside = np.bincount(ch[~inside], minlength=geometry.N_CHANNELS)
    lost = float(e[~inside].sum())
    jet, ch, ieta, iphi, e = jet[inside], ch[inside], ieta[inside], iphi[inside], e[inside]
    hc = ch == geometry.HCAL
    ieta = np.where(hc, ieta // _T * _T + _T // 2, ieta)
    iphi = np.where(hc, iphi // _T * _T + _T // 2, iphi)
    key = ((jet * geometry.N_CHANNELS + ch) * _N + ieta) * _N + iphi
    cells, inverse = np.unique(key, return_inverse=True)
    energy = np.zeros(len(cells))
    np.add.at(energy, inverse, e)
    merged = np.bincount(ch, minlength=geometry.N_CHANNELS) - np.bincount(
        (cells // (_N * _N)) % geometry.N_CHANNELS, minlength=geometry.N_CHANNELS)
    c_iphi = cells % _N
    c_ieta = (cells // _N) % _N
    c_ch = (cells // (_N * _N)) % geometry.N_CHANNELS
    c_jet = cells // (_N * _N * geometry.N_CHANNELS)
    keep = energy >= thresholds(detector)[c_ch]
    below = np.bincount(c_ch[~keep], minlength=geometry.N_CHANNELS)
    lost += float(energy[~keep].sum())
    table = HitTable(jet=c_jet[keep].astype(np.int64), channel=c_ch[keep].astype(np.uint8),
                     ieta=c_ieta[keep].astype(np.uint16), iphi=c_iphi[keep].astype(np.uint16),
                     energy=energy[keep].astype(np.float32),
                     counts=np.bincount(c_jet[keep], minlength=b).astype(np.int64))
    return table, SnapStats(outside=outside, merged=merged, below_threshold=below, energy_lost=lost)


def images(table: HitTable) -> np.ndarray:
    """Hit table -> float32 end-to-end images ``[B, 3, 125, 125]`` (HCAL tower energy / 25 per pixel)."""
    return hits_to_images(len(table.counts), table.jet, table.channel, table.ieta, table.iphi, table.energy,
                          "<decoded>", 0)


def evaluation_hits(table: HitTable) -> list:
    """Hit table -> one :class:`gvae.jets.Hits` per jet (positions at the cell centres)."""
    from gvae.jets import Hits

    out = []
    ends = np.cumsum(table.counts)
    for j, end in enumerate(ends):
        sl = slice(end - table.counts[j], end)
        x = (table.ieta[sl].astype(np.float64) - geometry.CENTRE_PIXEL) * geometry.PIXEL_SIZE
        y = (table.iphi[sl].astype(np.float64) - geometry.CENTRE_PIXEL) * geometry.PIXEL_SIZE
        out.append(Hits.at(x, y, table.energy[sl].astype(np.float64), table.channel[sl].astype(np.int64)))
    return out
