"""Jet-level observables computed from hits, and their comparison between original and
reconstruction (per-jet response, 1-Wasserstein distance between the distributions).

Physics choice (documented in the report): every hit is a massless particle at pseudorapidity
``eta = eta_jet + x`` and azimuth ``phi = y`` (the jet azimuth is irrelevant for mass and pT).
Calorimeter hits (ECAL, HCAL) hold an energy ``E``, so ``pT = E / cosh(eta)``; the track channel
holds the track ``pT`` itself. The jet ``eta`` is not part of the graph shards (DESIGN §6); where it
is unknown ``eta_jet = 0`` is used, i.e. the hits are read in the jet's local frame. For a jet at
``eta_jet != 0`` this scales the masses and pTs of original and reconstruction alike by about
``cosh(eta_jet)`` (|eta_jet| < 1.4, so at most 2.1), which leaves the responses (reco / original)
meaningful; only the absolute scales are frame-dependent.

Jet mass and pT use the calorimeter hits (ECAL + HCAL): tracks and the calorimeter deposits of the
same charged particles would otherwise be counted twice.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import wasserstein_distance

from gvae import geometry
from gvae.errors import ConfigError
from gvae.jets import Hits

#: Edges of the energy-weighted radial profile in r = sqrt(x^2 + y^2) (jet radius 0.8, then the rest
#: of the window up to its corner at 1.53).
RADIAL_EDGES: np.ndarray = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.6])
#: Default threshold (GeV) for counting hits; every reconstructed node carries some energy, so
#: counting above a threshold is what tells whether the soft hits are reproduced.
DEFAULT_THRESHOLD = 1.0

#: Scalar observables, in report order, with a short description (units in brackets).
OBSERVABLES: dict[str, str] = {
    **{f"energy_{c}": f"sum of {c} hit energies [GeV]" + (" (track pT)" if c == "track" else "")
       for c in geometry.CHANNELS},
    "energy_total": "sum of all hit energies, all channels [GeV]",
    "mass_calo": "invariant mass of the ECAL + HCAL hits as massless particles [GeV]",
    "pt_calo": "transverse momentum of the ECAL + HCAL hits [GeV]",
    **{f"n_hits_{c}": f"number of {c} hits above the threshold" for c in geometry.CHANNELS},
    "mean_radius": "energy-weighted mean distance of all hits from the jet axis (girth)",
}


def four_momenta(hits: Hits, jet_eta: float = 0.0) -> np.ndarray:
    """Massless four-momenta ``[n, 4]`` = (E, px, py, pz) in GeV (see the module docstring)."""
    eta = jet_eta + hits.x
    is_track = hits.channel == geometry.TRACK
    pt = np.where(is_track, hits.energy, hits.energy / np.cosh(eta))
    return np.stack([pt * np.cosh(eta), pt * np.cos(hits.y), pt * np.sin(hits.y), pt * np.sinh(eta)], axis=1)


def mass_and_pt(hits: Hits, jet_eta: float = 0.0) -> tuple[float, float]:
    """(mass, pT) in GeV of the sum of the hits' massless four-momenta (0, 0 for no hits)."""
    p = four_momenta(hits, jet_eta).sum(axis=0)
    m2 = p[0] ** 2 - p[1] ** 2 - p[2] ** 2 - p[3] ** 2
    return float(np.sqrt(max(m2, 0.0))), float(np.hypot(p[1], p[2]))


def radial_profile(hits: Hits, edges: np.ndarray = RADIAL_EDGES) -> np.ndarray:
    """Fraction of the jet's energy (all channels) per annulus in r: ``[len(edges) - 1]``.

    Hits beyond the last edge are not counted; a jet without energy gives zeros.
    """
    r = np.hypot(hits.x, hits.y)
    hist, _ = np.histogram(r, bins=edges, weights=hits.energy)
    total = hits.energy.sum()
    return hist / total if total > 0 else np.zeros(len(edges) - 1)


def jet_observables(hits: Hits, jet_eta: float = 0.0, threshold: float = DEFAULT_THRESHOLD) -> dict[str, float]:
    """Every scalar of :data:`OBSERVABLES` for one jet."""
    if threshold < 0:
        raise ConfigError(f"hit threshold must be >= 0, got {threshold}")
    out: dict[str, float] = {}
    for c, name in enumerate(geometry.CHANNELS):
        out[f"energy_{name}"] = float(hits.energy[hits.channel == c].sum())
    out["energy_total"] = float(hits.energy.sum())
    calo = hits.channel != geometry.TRACK
    out["mass_calo"], out["pt_calo"] = mass_and_pt(
        Hits.at(hits.x[calo], hits.y[calo], hits.energy[calo], hits.channel[calo]), jet_eta)
    for c, name in enumerate(geometry.CHANNELS):
        out[f"n_hits_{name}"] = float(np.count_nonzero((hits.channel == c) & (hits.energy > threshold)))
    total = hits.energy.sum()
    out["mean_radius"] = float((hits.energy * np.hypot(hits.x, hits.y)).sum() / total) if total > 0 else 0.0
    return out


def observables_table(jets: Sequence[Hits], jet_etas: Sequence[float] | None = None,
                      threshold: float = DEFAULT_THRESHOLD) -> dict[str, np.ndarray]:
    """Observables of many jets: name -> float64 ``[n_jets]``."""
    etas = np.zeros(len(jets)) if jet_etas is None else np.asarray(jet_etas, dtype=np.float64)
    rows = [jet_observables(h, float(e), threshold) for h, e in zip(jets, etas)]
    return {name: np.array([r[name] for r in rows], dtype=np.float64) for name in OBSERVABLES}


def summary(values: np.ndarray) -> dict[str, float]:
    """Mean, std and quantiles (5, 16, 50, 84, 95 %) of a sample (NaN entries for an empty one)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {k: float("nan") for k in ("mean", "std", "q05", "q16", "median", "q84", "q95")}
    q = np.quantile(v, [0.05, 0.16, 0.5, 0.84, 0.95])
    return {"mean": float(v.mean()), "std": float(v.std()), "q05": float(q[0]), "q16": float(q[1]),
            "median": float(q[2]), "q84": float(q[3]), "q95": float(q[4])}


def compare(original: np.ndarray, reconstruction: np.ndarray) -> dict[str, object]:
    """Compare one observable between original and reconstructed jets (same order).

    Returns ``response`` (summary of reco / original over the jets with original != 0),
    ``n_response_undefined`` (jets with original == 0, where the ratio is undefined),
    ``w1`` (1-Wasserstein distance between the two distributions, in the observable's unit) and
    ``original`` / ``reconstruction`` summaries.
    """
    o = np.asarray(original, dtype=np.float64)
    r = np.asarray(reconstruction, dtype=np.float64)
    if o.shape != r.shape:
        raise ConfigError(f"original {o.shape} and reconstruction {r.shape} differ in shape")
    ok = o != 0
    return {
        "response": summary(r[ok] / o[ok]),
        "n_response_undefined": int((~ok).sum()),
        "w1": float(wasserstein_distance(o, r)) if o.size else float("nan"),
        "original": summary(o),
        "reconstruction": summary(r),
    }
