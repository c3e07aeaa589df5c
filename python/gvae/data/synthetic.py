"""Synthetic jets with the sparsity of real jet images, for io tests and read benchmarks.

Not physics: hits are scattered around the jet axis with a Gaussian profile, energies are
exponential. What matters for files is the shape of the data: ~30 track pixels, ~235 ECAL pixels
and ~36 HCAL towers per jet (stored in the end-to-end convention, tower energy / 25 in each of
its 5 x 5 pixels), like the generated jets (:mod:`gvae.data.generate`, measured on 240 generated
jets: 30.1, 234.6 and 35.9; mean hit energies 10.5, 1.4 and 10.2 GeV). Deterministic in ``seed``.
"""
from __future__ import annotations

import numpy as np

from gvae import geometry
from gvae.jets import JetBatch, towers_to_pixels

#: Hits drawn per jet (Poisson means): track pixels, ECAL pixels, HCAL towers. Hits landing on the
#: same pixel/tower merge, leaving ~31, ~239 and ~37 distinct hits per jet.
MEAN_HITS = (31, 250, 46)
_SPREAD_PIXELS = 14.0  # Gaussian width of the hit positions around the jet axis


def synthetic_jets(n_jets: int, seed: int = 0, mean_hits: tuple[int, int, int] = MEAN_HITS) -> JetBatch:
    """``n_jets`` jets with images float32 ``[n, 3, 125, 125]`` and plausible scalars.

    Track and ECAL pixels get exponential energies (mean 10 GeV and 1.4 GeV); HCAL towers get
    exponential tower energies (mean 10 GeV) spread as energy / 25 over 5 x 5 pixels.
    """
    rng = np.random.default_rng(seed)
    size, t = geometry.IMAGE_SIZE, geometry.HCAL_TOWER_PIXELS
    images = np.zeros((n_jets, geometry.N_CHANNELS, size, size), np.float32)

    def positions(count: int, limit: int, centre: float, spread: float) -> np.ndarray:
        return np.clip(np.rint(rng.normal(centre, spread, count)), 0, limit - 1).astype(np.int64)

    for channel, mean_e in ((geometry.TRACK, 10.0), (geometry.ECAL, 1.4)):
        counts = rng.poisson(mean_hits[channel], n_jets)
        jet = np.repeat(np.arange(n_jets), counts)
        k = len(jet)
        images[jet, channel, positions(k, size, geometry.CENTRE_PIXEL, _SPREAD_PIXELS),
               positions(k, size, geometry.CENTRE_PIXEL, _SPREAD_PIXELS)] = \
            rng.exponential(mean_e, k).astype(np.float32) + np.float32(0.01)
    counts = rng.poisson(mean_hits[geometry.HCAL], n_jets)
    jet = np.repeat(np.arange(n_jets), counts)
    k = len(jet)
    towers = np.zeros((n_jets, geometry.N_TOWERS, geometry.N_TOWERS), np.float32)
    towers[jet, positions(k, geometry.N_TOWERS, geometry.N_TOWERS // 2, _SPREAD_PIXELS / t),
           positions(k, geometry.N_TOWERS, geometry.N_TOWERS // 2, _SPREAD_PIXELS / t)] = \
        rng.exponential(10.0, k).astype(np.float32) + np.float32(0.1)
    images[:, geometry.HCAL] = towers_to_pixels(towers.astype(np.float64)).astype(np.float32)
    eta = rng.uniform(-1.4, 1.4, n_jets).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, n_jets).astype(np.float32)
    return JetBatch(images,
                    pt=rng.uniform(400.0, 800.0, n_jets), m0=rng.uniform(20.0, 250.0, n_jets),
                    y=rng.integers(0, 2, n_jets), eta=eta, phi=phi,
                    ieta=np.rint(eta / geometry.PIXEL_SIZE), iphi=np.rint(phi / geometry.PIXEL_SIZE),
                    source=f"<synthetic seed={seed}>")
