"""Hits <-> jet images, and snapping continuous hits to the detector.

Decoders that are free to place hits anywhere (the latent-only PCA baselines here, a latent-only
GVAE decoder) produce continuous ``(x, y, E)`` per hit. Before they are compared with detector
jets they are snapped onto the detector's cells, exactly as a real jet is recorded:

* track and ECAL hits go to the crystal pixel containing ``(x, y)`` (``round(x / 0.0174) + 62``);
* HCAL hits go to the 5 x 5-pixel tower containing that pixel;
* hits of the same channel on the same cell are summed; hits outside the 125 x 125 window are
  dropped (their energy is returned separately so that reports can state it);
* the readout thresholds of :class:`gvae.data.detector.DetectorConfig` are applied to the summed cells
  (ECAL crystals below ``ecal_threshold``, HCAL towers below ``hcal_threshold`` read zero; the
  tracker has no energy threshold).

:func:`hits_to_image` writes hits into the end-to-end image convention of
:class:`gvae.jets.JetBatch` (HCAL tower energy spread as ``E / 25`` over its 25 pixels) and
:func:`image_to_hits` reads an image back as the graph builder does (one hit per nonzero
track/ECAL pixel, one per HCAL tower at its centre pixel ``5 t + 2``), so
``image_to_hits(hits_to_image(h))`` is the snap, and a jet that already sits on the detector cells
comes back unchanged (up to the order of its hits).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from gvae import geometry
from gvae.data.detector import DetectorConfig
from gvae.errors import InvalidInput
from gvae.jets import Hits
from gvae.jets import paint

_S = geometry.IMAGE_SIZE
_T = geometry.HCAL_TOWER_PIXELS


def pixel_indices(hits: Hits) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ieta, iphi, inside)``: int64 ``[n]`` pixel indices of each hit and bool ``[n]`` inside the window."""
    ie = np.floor(hits.x / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)
    ip = np.floor(hits.y / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)
    inside = (ie >= 0) & (ie < _S) & (ip >= 0) & (ip < _S)
    return ie, ip, inside


def hits_to_image(hits: Hits) -> np.ndarray:
    """Hits -> image float64 ``[3, 125, 125]`` in GeV, end-to-end convention (HCAL: ``E / 25`` per
    pixel of the tower), painted by :func:`gvae.jets.paint`. Hits outside the window are dropped."""
    ie, ip, inside = pixel_indices(hits)
    return paint(1, np.zeros(int(inside.sum()), np.int64), np.asarray(hits.channel)[inside], ie[inside], ip[inside],
                 np.asarray(hits.energy, np.float64)[inside], np.float64)[0]


def image_to_hits(image: np.ndarray) -> Hits:
    """Image ``[3, 125, 125]`` (GeV, end-to-end convention) -> hits at the cell centres, in the
    graph builder's coordinates (``x = (ieta - 62) * 0.0174``); HCAL summed per tower."""
    img = np.asarray(image, dtype=np.float64)
    if img.shape != (geometry.N_CHANNELS, _S, _S):
        raise InvalidInput(f"image must have shape {(geometry.N_CHANNELS, _S, _S)}, got {img.shape}", field="image")
    if not np.all(np.isfinite(img)) or np.any(img < 0):
        raise InvalidInput("image pixels must be finite and >= 0", field="image")
    xs, ys, es, cs = [], [], [], []
    for c in range(geometry.N_CHANNELS):
        if c == geometry.HCAL:
            towers = img[c].reshape(geometry.N_TOWERS, _T, geometry.N_TOWERS, _T).sum(axis=(1, 3))
            te, tp = np.nonzero(towers)
            ie, ip, e = te * _T + _T // 2, tp * _T + _T // 2, towers[te, tp]
        else:
            ie, ip = np.nonzero(img[c])
            e = img[c][ie, ip]
        xs.append((ie - geometry.CENTRE_PIXEL) * geometry.PIXEL_SIZE)
        ys.append((ip - geometry.CENTRE_PIXEL) * geometry.PIXEL_SIZE)
        es.append(e)
        cs.append(np.full(len(e), c, dtype=np.int64))
    return Hits.at(np.concatenate(xs), np.concatenate(ys), np.concatenate(es), np.concatenate(cs))


def apply_thresholds(hits: Hits, detector: DetectorConfig | None = None) -> Hits:
    """Drop ECAL hits below ``detector.ecal_threshold`` and HCAL hits below ``hcal_threshold`` (GeV)."""
    d = detector or DetectorConfig()
    keep = ~(((hits.channel == geometry.ECAL) & (hits.energy < d.ecal_threshold))
             | ((hits.channel == geometry.HCAL) & (hits.energy < d.hcal_threshold)))
    return Hits.at(hits.x[keep], hits.y[keep], hits.energy[keep], hits.channel[keep])


def snap(hits: Hits, detector: DetectorConfig | None = None, thresholds: bool = True) -> tuple[Hits, float]:
    """Snap continuous hits to the detector cells, then apply the readout thresholds (module docstring).

    Returns the snapped hits and the energy (GeV) of the hits that fell outside the window.
    """
    _, _, inside = pixel_indices(hits)
    cells = image_to_hits(hits_to_image(hits))
    return (apply_thresholds(cells, detector) if thresholds else cells), float(hits.energy[~inside].sum())


def snap_all(jets: Sequence[Hits], detector: DetectorConfig | None = None,
             thresholds: bool = True) -> tuple[list[Hits], np.ndarray]:
    """:func:`snap` of many jets: the snapped jets and float64 ``[n]`` energy lost outside the window."""
    out = [snap(h, detector, thresholds) for h in jets]
    return [h for h, _ in out], np.array([e for _, e in out], dtype=np.float64)


def hits_from_sets(xyz: np.ndarray, channel: np.ndarray, mask: np.ndarray, snap_to_detector: bool = True,
                   detector: DetectorConfig | None = None) -> list[Hits]:
    """A decoder's padded hit sets -> one :class:`Hits` per jet (snapped and thresholded by default).

    xyz: float ``[B, M, 3]`` physical (x, y offsets, energy in GeV); channel: int ``[B, M]`` in
    {0, 1, 2}; mask: bool ``[B, M]`` (True = the hit exists). Numpy arrays or torch tensors.
    """
    to_np = lambda a: a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)  # noqa: E731
    x, c, m = to_np(xyz).astype(np.float64), np.rint(to_np(channel)).astype(np.int64), to_np(mask).astype(bool)
    if x.ndim != 3 or x.shape[2] != 3 or c.shape != x.shape[:2] or m.shape != x.shape[:2]:
        raise InvalidInput(f"expected xyz [B, M, 3], channel and mask [B, M], got {x.shape}, {c.shape}, {m.shape}",
                           field="hits")
    out = []
    for j in range(len(x)):
        try:
            h = Hits.at(x[j, m[j], 0], x[j, m[j], 1], x[j, m[j], 2], c[j, m[j]])
        except InvalidInput as exc:
            raise InvalidInput(f"jet {j}: {exc}", row=j, field=exc.field) from exc
        out.append(snap(h, detector)[0] if snap_to_detector else h)
    return out


def average_images(jets: Sequence[Hits]) -> np.ndarray:
    """Mean image float64 ``[3, 125, 125]`` of many jets (zeros for none)."""
    total = np.zeros((geometry.N_CHANNELS, _S, _S))
    for h in jets:
        total += hits_to_image(h)
    return total / max(len(jets), 1)
