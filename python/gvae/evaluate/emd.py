"""Energy Mover's Distance between two jets, in physical units (GeV).

Komiske, Metodiev, Thaler, "Metric Space of Collider Events", PRL 123, 041801 (2019), eq. (1):

    EMD(E, E') = min_{f_ij >= 0}  sum_ij f_ij * theta_ij / R  +  | sum_i E_i - sum_j E'_j |
    subject to  sum_j f_ij <= E_i,  sum_i f_ij <= E'_j,  sum_ij f_ij = min(sum_i E_i, sum_j E'_j)

* Ground distance ``theta_ij`` = Euclidean distance in the (x, y) = (eta, phi) offset plane, in
  physical units (DESIGN §1: 0.0174 per pixel), i.e. the usual Delta R between hits.
* Energies in GeV (the track channel holds track pT, as in the images), so the EMD is in GeV.
* ``R`` = 0.8 by default, the anti-kt radius of the generated jets: moving all of a jet's energy by
  one jet radius costs its energy, the same as creating or destroying that energy. KMT note the EMD
  is a true metric when ``R`` is at least half the largest ground distance; across the full
  125 x 125 window (diagonal 3.06) that would need R >= 1.53, so with R = 0.8 the triangle
  inequality can fail for hits more than 1.6 apart (far outside the jet), which does not affect its
  use here as a per-jet distance.

The partial transport is solved as a balanced one: the lighter event gets one
extra "dummy" hit carrying the energy difference at zero ground distance from everything, which
makes the optimal flow of the balanced problem an optimal flow of the constrained problem above;
the ``|Delta E|`` term is then added explicitly. The balanced problem is solved exactly with POT's
network simplex (``ot.emd2``) on energies divided by the larger total (so the two sides sum to 1 up
to rounding), and the cost is scaled back to GeV.
"""
from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

import numpy as np
import ot
from scipy.spatial.distance import cdist
from tqdm.auto import tqdm

from gvae import geometry
from gvae.errors import ConfigError, InvalidInput
from gvae.jets import Hits

log = logging.getLogger(__name__)

#: Default EMD radius: the anti-kt R of the generated jets (gvae.data.generate).
DEFAULT_R = 0.8
#: EMD "channels": each detector channel on its own, then all hits together.
EMD_CHANNELS: tuple[str, ...] = (*geometry.CHANNELS, "all")
#: Network-simplex iteration cap; far above what a 400 x 400 problem needs.
_MAX_ITER = 10_000_000


def emd(coords_a: np.ndarray, energy_a: np.ndarray, coords_b: np.ndarray, energy_b: np.ndarray,
        R: float = DEFAULT_R) -> float:
    """EMD (GeV) between two sets of hits.

    coords_a: ``[n, 2]`` (x, y); energy_a: ``[n]`` GeV; coords_b: ``[m, 2]``; energy_b: ``[m]``.
    An empty side gives ``sum`` of the other side's energy; two empty sides give 0.
    """
    if not R > 0:
        raise ConfigError(f"EMD radius R must be > 0, got {R}")
    ca, ea = _check(coords_a, energy_a, "a")
    cb, eb = _check(coords_b, energy_b, "b")
    ta, tb = float(ea.sum()), float(eb.sum())
    delta = abs(ta - tb)
    if ta == 0.0 or tb == 0.0:
        return delta
    scale = max(ta, tb)
    a, b = ea / scale, eb / scale
    cost = cdist(ca, cb) / R
    # Dummy hit on the lighter side with the (normalised) energy difference, zero ground distance.
    diff = float(b.sum() - a.sum())
    if diff > 0:
        a = np.append(a, diff)
        cost = np.vstack([cost, np.zeros((1, cost.shape[1]))])
    elif diff < 0:
        b = np.append(b, -diff)
        cost = np.hstack([cost, np.zeros((cost.shape[0], 1))])
    transport = float(ot.emd2(a, b, cost, numItermax=_MAX_ITER))
    return scale * transport + delta


def _check(coords: np.ndarray, energy: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one side and drop zero-energy hits (they carry no flow)."""
    c = np.asarray(coords, dtype=np.float64).reshape(-1, 2) if np.size(coords) else np.zeros((0, 2))
    e = np.asarray(energy, dtype=np.float64).reshape(-1)
    if len(c) != len(e):
        raise InvalidInput(f"side {side}: {len(c)} coordinates but {len(e)} energies", field="energy")
    if not np.all(np.isfinite(c)):
        raise InvalidInput(f"side {side}: coordinates must be finite", field="coords")
    if not np.all(np.isfinite(e)) or np.any(e < 0):
        raise InvalidInput(f"side {side}: energies must be finite and >= 0", field="energy")
    keep = e > 0
    return c[keep], e[keep]


def event_emds(original: Hits, reconstruction: Hits, R: float = DEFAULT_R) -> np.ndarray:
    """EMD per channel and for all channels together.

    Returns float64 ``[4]`` in the order of :data:`EMD_CHANNELS` (track, ecal, hcal, all).
    """
    out = np.empty(len(EMD_CHANNELS))
    for i, channel in enumerate((*range(geometry.N_CHANNELS), None)):
        a, b = original.select(channel), reconstruction.select(channel)
        out[i] = emd(a.coords, a.energy, b.coords, b.energy, R)
    return out


def _emd_chunk(args: tuple[list[Hits], list[Hits], float]) -> np.ndarray:
    originals, reconstructions, R = args
    return np.stack([event_emds(o, r, R) for o, r in zip(originals, reconstructions)]) \
        if originals else np.zeros((0, len(EMD_CHANNELS)))


def batch_emds(originals: Sequence[Hits], reconstructions: Sequence[Hits], R: float = DEFAULT_R,
               workers: int = 1, chunk_size: int = 16, desc: str = "EMD") -> np.ndarray:
    """EMDs of many jets: float64 ``[n_jets, 4]`` (columns as :data:`EMD_CHANNELS`).

    Every jet is kept (no outlier removal). ``workers > 1`` spreads chunks of ``chunk_size`` jets
    over that many worker processes.
    """
    if len(originals) != len(reconstructions):
        raise InvalidInput(f"{len(originals)} original jets but {len(reconstructions)} reconstructions")
    if workers < 1 or chunk_size < 1:
        raise ConfigError(f"workers and chunk_size must be >= 1, got {workers}, {chunk_size}")
    n = len(originals)
    chunks = [(list(originals[i:i + chunk_size]), list(reconstructions[i:i + chunk_size]), R)
              for i in range(0, n, chunk_size)]
    results: list[np.ndarray] = []
    with tqdm(total=n, desc=desc, unit="jet", leave=False) as bar:
        if workers == 1 or len(chunks) <= 1:
            for chunk in chunks:
                results.append(_emd_chunk(chunk))
                bar.update(len(chunk[0]))
        else:
            # fork: the workers only run numpy/scipy/POT on the pickled hits, and re-importing POT
            # (which imports torch) in spawned workers costs seconds each.
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                for chunk, res in zip(chunks, pool.map(_emd_chunk, chunks)):
                    results.append(res)
                    bar.update(len(chunk[0]))
    return np.concatenate(results) if results else np.zeros((0, len(EMD_CHANNELS)))
