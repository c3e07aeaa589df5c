"""Fréchet and kernel physics distances (FPD, KPD) between two samples of jet features, and the
energy-flow-polynomial features they are defined on.

Definitions follow Kansal et al., "Evaluating generative models in high energy physics",
PRD 107, 076017 (2023), arXiv:2211.10295, as implemented in the ``jetnet`` library
(``jetnet.evaluation.fpd`` / ``kpd`` / ``get_fpd_kpd_jet_features``); re-implemented here (jetnet
pulls numba, coffea and awkward-vector, and a fixed 50k-jet sample size):

* features are divided by the per-feature maximum of ``|real|`` (zero maxima left at 1) for both
  samples;
* **FPD**: the Fréchet distance ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between Gaussians
  fitted to bootstrap batches (drawn with replacement) of ``num_points`` sizes evenly spaced in
  ``1/N`` between ``min_samples`` and ``max_samples``, averaged over ``num_batches`` batches per
  size, then extrapolated to ``1/N -> 0`` by a linear least-squares fit constrained to a
  non-negative intercept and slope; the value is the intercept and the error the fit's standard
  error on it. jetnet's defaults are 20k-50k jets; for smaller samples the same 0.4 : 1 range is
  used up to the sample size (stated in the result);
* **KPD**: the unbiased quadratic-time MMD^2 estimate with the polynomial kernel
  ``k(x, y) = (x . y / d + 1)^4`` on ``num_batches`` bootstrap batches of ``batch_size`` jets
  (seed ``seed + 1000 i`` per batch); the value is the median and the error half the 16-84 %
  inter-quantile range.

Jet features (:func:`efp_features`): the 36 energy flow polynomials with ``d <= 4``
(``energyflow.EFPSet(("d<=", 4), measure="hadr", beta=1, normed=None, coords="ptyphim")``, jetnet's
choice) of the calorimeter (ECAL + HCAL) hits as massless particles with jetnet's particle
features: relative pT (``pT_i / sum pT``, ``pT = E / cosh(eta)``) and (eta, phi) offsets from the
jet axis. The EFPs then describe the jet's shape, O(1); its scale enters through the scalar features
(mass, pT, energies). Tracks are left out as in the jet mass and pT of
:mod:`gvae.evaluate.observables` (their calorimeter deposits are already there).
"""
from __future__ import annotations

import functools
import logging
import warnings
from typing import Sequence

import numpy as np
from scipy.optimize import curve_fit

from gvae import geometry
from gvae.errors import ConfigError, InvalidInput
from gvae.jets import Hits

log = logging.getLogger(__name__)

#: jetnet's reference sample sizes for the FPD extrapolation.
FPD_MIN_SAMPLES = 20_000
FPD_MAX_SAMPLES = 50_000
#: EFP set of jetnet's ``get_fpd_kpd_jet_features``.
EFPSET_ARGS: tuple = (("d<=", 4),)


def _features(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or len(a) < 2:
        raise InvalidInput(f"{name} must be [n >= 2, d], got shape {a.shape}", field=name)
    if not np.all(np.isfinite(a)):
        raise InvalidInput(f"{name} has non-finite values", field=name)
    return a


def normalise_features(real: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide both samples ``[n, d]`` by the per-feature max of ``|real|`` (0 -> 1)."""
    maxes = np.max(np.abs(real), axis=0)
    maxes[maxes == 0] = 1.0
    return real / maxes, gen / maxes


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues -> 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1 ``[d]``, sigma1 ``[d, d]``) and N(mu2, sigma2).

    ``Tr((S1 S2)^(1/2))`` is computed as ``sum sqrt(eig(S1^(1/2) S2 S1^(1/2)))`` (the same eigenvalues
    as ``S1 S2``, but a symmetric problem: exact for singular covariances, no ``sqrtm`` of a
    non-symmetric product, which jetnet regularises with ``eps`` and is ~50x slower).
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise InvalidInput(f"mean/covariance shapes differ: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    root = _sqrt_psd(sigma1)
    middle = root @ sigma2 @ root
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)).sum())
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _linear(x: np.ndarray, intercept: float, slope: float) -> np.ndarray:
    return intercept + slope * x


def fpd(real: np.ndarray, gen: np.ndarray, min_samples: int | None = None, max_samples: int | None = None,
        num_batches: int = 20, num_points: int = 10, normalise: bool = True, seed: int = 42) -> dict[str, float]:
    """FPD between feature samples ``real [n1, d]`` and ``gen [n2, d]`` (module docstring).

    Returns ``{"value", "error", "min_samples", "max_samples"}``; ``None`` sizes mean jetnet's
    20k / 50k, reduced in the same ratio to the smaller sample when that has fewer than 50k.
    """
    x, y = _features(real, "real"), _features(gen, "gen")
    if x.shape[1] != y.shape[1]:
        raise InvalidInput(f"real has {x.shape[1]} features, gen {y.shape[1]}", field="features")
    n = min(len(x), len(y))
    hi = int(max_samples) if max_samples is not None else min(FPD_MAX_SAMPLES, n)
    lo = int(min_samples) if min_samples is not None else max(2, int(round(hi * FPD_MIN_SAMPLES / FPD_MAX_SAMPLES)))
    if not 2 <= lo <= hi:
        raise ConfigError(f"FPD needs 2 <= min_samples <= max_samples, got {lo}, {hi}")
    if num_batches < 1 or num_points < 2:
        raise ConfigError(f"FPD needs num_batches >= 1 and num_points >= 2, got {num_batches}, {num_points}")
    if normalise:
        x, y = normalise_features(x, y)
    sizes = (1.0 / np.linspace(1.0 / lo, 1.0 / hi, num_points)).astype(np.int64)
    rng = np.random.default_rng(seed)
    values = []
    for size in sizes:
        points = []
        for _ in range(num_batches):
            a = x[rng.choice(len(x), size=int(size))]
            b = y[rng.choice(len(y), size=int(size))]
            points.append(frechet_distance(a.mean(axis=0), np.cov(a, rowvar=False),
                                           b.mean(axis=0), np.cov(b, rowvar=False)))
        values.append(np.mean(points))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OptimizeWarning when the covariance of the fit is singular
        params, cov = curve_fit(_linear, 1.0 / sizes, np.asarray(values), bounds=([0, 0], [np.inf, np.inf]))
    err = float(np.sqrt(cov[0, 0])) if np.isfinite(cov[0, 0]) else float("nan")
    return {"value": float(params[0]), "error": err, "min_samples": lo, "max_samples": hi}


def _mmd_poly_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 4) -> float:
    """Unbiased MMD^2 with kernel ``(x . y / d + 1)^degree`` between ``x [m, d]`` and ``y [n, d]``."""
    gamma = 1.0 / x.shape[1]
    kxx = (x @ x.T * gamma + 1.0) ** degree
    kyy = (y @ y.T * gamma + 1.0) ** degree
    kxy = (x @ y.T * gamma + 1.0) ** degree
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


def kpd(real: np.ndarray, gen: np.ndarray, num_batches: int = 10, batch_size: int = 5000,
        normalise: bool = True, seed: int = 42) -> dict[str, float]:
    """KPD between ``real [n1, d]`` and ``gen [n2, d]``: ``{"value" (median), "error", "batch_size"}``.

    ``batch_size`` is reduced to the smaller sample size when that is smaller (stated in the result).
    """
    x, y = _features(real, "real"), _features(gen, "gen")
    if x.shape[1] != y.shape[1]:
        raise InvalidInput(f"real has {x.shape[1]} features, gen {y.shape[1]}", field="features")
    size = min(int(batch_size), len(x), len(y))
    if size < 2 or num_batches < 1:
        raise ConfigError(f"KPD needs batch_size >= 2 and num_batches >= 1, got {size}, {num_batches}")
    if normalise:
        x, y = normalise_features(x, y)
    vals = []
    for i in range(num_batches):
        rng = np.random.default_rng(seed + i * 1000)
        vals.append(_mmd_poly_unbiased(x[rng.choice(len(x), size=size)], y[rng.choice(len(y), size=size)]))
    q16, q84 = np.percentile(vals, [16.275, 83.725])
    return {"value": float(np.median(vals)), "error": float((q84 - q16) / 2.0), "batch_size": size}


def efp_names() -> list[str]:
    """Names of the EFP features: ``efp_<index>_n<vertices>_d<edges>``."""
    s = _efpset()
    specs = s.specs  # columns n, e, d, v, k, c, p, h
    return [f"efp_{i}_n{int(n)}_d{int(d)}" for i, (n, d) in enumerate(specs[:, [0, 2]])]


@functools.lru_cache(maxsize=1)
def _efpset():
    try:
        import energyflow
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError("the EFP features need the 'energyflow' package (pip install energyflow)") from exc
    return energyflow.EFPSet(*EFPSET_ARGS, measure="hadr", beta=1, normed=None, coords="ptyphim", verbose=0)


def calorimeter_particles(hits: Hits, jet_eta: float = 0.0) -> np.ndarray:
    """The ECAL + HCAL hits as massless particles ``[n, 3]`` = (pT, y, phi) (y = eta for massless)."""
    calo = hits.channel != geometry.TRACK
    eta = jet_eta + hits.x[calo]
    return np.stack([hits.energy[calo] / np.cosh(eta), eta, hits.y[calo]], axis=1)


def efp_features(jets: Sequence[Hits], jet_etas: Sequence[float] | None = None, workers: int = 1) -> np.ndarray:
    """The 36 ``d <= 4`` EFPs of each jet's calorimeter hits with relative pT: float64 ``[n_jets, 36]``.

    A jet without calorimeter energy gets zeros. ``workers > 1`` spreads the jets over that many
    processes (energyflow's ``batch_compute``); the values are the same.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    s = _efpset()
    etas = np.zeros(len(jets)) if jet_etas is None else np.asarray(jet_etas, dtype=np.float64)
    out = np.zeros((len(jets), s.count()))
    events, rows = [], []
    for i, (h, eta) in enumerate(zip(jets, etas)):
        p = calorimeter_particles(h, float(eta))
        p = p[p[:, 0] > 0]
        if len(p):
            p[:, 0] /= p[:, 0].sum()
            events.append(p)
            rows.append(i)
    if events:
        if workers > 1 and len(events) > 1:
            values = np.asarray(s.batch_compute(events, n_jobs=workers), dtype=np.float64)
        else:
            values = np.stack([s.compute(p) for p in events])
        out[rows] = values
    if not np.all(np.isfinite(out)):
        raise InvalidInput("non-finite EFP values", field="efp")
    return out


__all__ = ["EFPSET_ARGS", "calorimeter_particles", "efp_features", "efp_names", "fpd", "frechet_distance", "kpd",
           "normalise_features"]
