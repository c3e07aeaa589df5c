"""Generation metrics: generated jets against held-out real jets, per jet type, each figure beside
its truth floor.

For one jet type the held-out real jets are shuffled (seeded) and split into two disjoint halves:
``A`` (the reference) and ``B`` (the floor sample). Every sample compared is cut to the same size
``n = min(len(real) // 2, len(each generated sample))``. A figure ``d(A, G)`` of a generated sample
``G`` is reported beside its floor ``d(A, B)``: the same figure between two real samples of the same
size, i.e. what a perfect generator would get at this sample size.

Figures (all on snapped jets, as the detector records them):

* W1 (1-Wasserstein) between the distributions of: calorimeter mass and pT; energy and hit count
  per channel; total energy; energy-weighted mean radius; each radial-profile bin (fraction of the
  jet's energy per annulus); and per hit, pooled over the jets: x, y and ln(E / GeV) per channel
  and over all channels;
* FPD and KPD (:mod:`gvae.evaluate.fpd`) on the 36 ``d <= 4`` EFPs of the calorimeter hits plus
  the jet scalars above (mass, pT, energies, counts, mean radius, radial bins);
* the cross-validated AUC of a classifier on the same features (:mod:`gvae.evaluate.classifier`).

Multiples of the floor: ``value / floor`` for W1 (``None`` where the floor is 0); for FPD and KPD
``value / max(floor, floor error)`` (the extrapolated FPD floor can be exactly 0 and the unbiased KPD
floor negative: the floor's error is then the scale of "indistinguishable");
for the AUC, whose floor is about 0.5, the excess ``|AUC - 0.5|`` as a multiple of
``max(|AUC_floor - 0.5|, sigma_0)`` with ``sigma_0`` the AUC's spread for indistinguishable
samples of that size. FPD and KPD also get ``z = (value - floor) / sqrt(err^2 + err_floor^2)``.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
from scipy.stats import wasserstein_distance

from gvae import geometry
from gvae.errors import ConfigError, InvalidInput
from gvae.evaluate.classifier import classifier_auc
from gvae.evaluate.fpd import efp_features, efp_names, fpd, kpd
from gvae.jets import Hits
from gvae.evaluate.images import image_to_hits
from gvae.evaluate.observables import RADIAL_EDGES, observables_table, radial_profile
from gvae.jets import HitBatch, JetBatch
from gvae.jets import Hits as HitsType

log = logging.getLogger(__name__)

#: Jet scalars compared by W1 and used (with the radial bins and EFPs) as FPD/KPD/classifier features.
JET_SCALARS: tuple[str, ...] = ("mass_calo", "pt_calo", *(f"energy_{c}" for c in geometry.CHANNELS), "energy_total",
                                *(f"n_hits_{c}" for c in geometry.CHANNELS), "mean_radius")
RADIAL_BINS: tuple[str, ...] = tuple(f"radial_{RADIAL_EDGES[i]:.2f}_{RADIAL_EDGES[i + 1]:.2f}"
                                     for i in range(len(RADIAL_EDGES) - 1))
_HIT_GROUPS: tuple[str, ...] = (*geometry.CHANNELS, "all")
PER_HIT: tuple[str, ...] = tuple(f"hit_{q}_{g}" for g in _HIT_GROUPS for q in ("x", "y", "log_energy"))
#: Every W1 figure, in report order.
W1_FEATURES: tuple[str, ...] = (*JET_SCALARS, *RADIAL_BINS, *PER_HIT)
#: Default threshold (GeV) for hit counts in generation: 0, every recorded (snapped, thresholded) hit.
GENERATION_HIT_THRESHOLD = 0.0

JetsLike = Union[JetBatch, HitBatch, Sequence[Hits], "JetSample"]


@dataclass
class JetSample:
    """Jets as hits plus their axis eta (``[n]``, 0 where unknown: local frame)."""

    hits: list[Hits]
    eta: np.ndarray

    def __len__(self) -> int:
        return len(self.hits)

    def take(self, index: np.ndarray) -> "JetSample":
        return JetSample([self.hits[int(i)] for i in index], self.eta[np.asarray(index, dtype=np.int64)])


def as_sample(jets: JetsLike, name: str = "jets") -> JetSample:
    """A :class:`JetBatch` (images read back as hits, HCAL per tower), a :class:`gvae.jets.HitBatch`
    (a hit file's jets), a sequence of :class:`gvae.jets.Hits` (eta 0) or a :class:`JetSample` ->
    :class:`JetSample`."""
    if isinstance(jets, JetSample):
        return jets
    if isinstance(jets, HitBatch):
        eta = np.asarray(jets.scalars.get("eta", np.zeros(len(jets))), dtype=np.float64)
        hits = [jets.jet_hits(b) for b in range(len(jets))]
        return JetSample([Hits.at(h.x, h.y, h.energy, h.channel) for h in hits], np.where(np.isfinite(eta), eta, 0.0))
    if isinstance(jets, JetBatch):
        eta = np.asarray(jets.eta, dtype=np.float64)
        return JetSample([image_to_hits(img) for img in jets.images], np.where(np.isfinite(eta), eta, 0.0))
    hits = list(jets)
    bad = [i for i, h in enumerate(hits) if not isinstance(h, HitsType)]
    if bad:
        raise InvalidInput(f"{name}: jet {bad[0]} is {type(hits[bad[0]]).__name__}, expected gvae.jets.Hits",
                           row=bad[0], field=name)
    return JetSample(hits, np.zeros(len(hits)))


@dataclass
class SampleFeatures:
    """Features of one sample of ``n`` jets: scalars name -> ``[n]``, per-hit name -> ``[n_hits]``
    (pooled), EFPs ``[n, 36]``."""

    scalars: dict[str, np.ndarray]
    per_hit: dict[str, np.ndarray]
    efps: np.ndarray

    def matrix(self) -> np.ndarray:
        """FPD/KPD/classifier features ``[n, 36 + len(JET_SCALARS) + len(RADIAL_BINS)]``."""
        return np.column_stack([self.efps] + [self.scalars[k] for k in (*JET_SCALARS, *RADIAL_BINS)])

    def values(self, name: str) -> np.ndarray:
        return self.scalars[name] if name in self.scalars else self.per_hit[name]


def feature_names() -> list[str]:
    """Column names of :meth:`SampleFeatures.matrix`."""
    return [*efp_names(), *JET_SCALARS, *RADIAL_BINS]


def compute_features(sample: JetSample, hit_threshold: float = GENERATION_HIT_THRESHOLD,
                     workers: int = 1) -> SampleFeatures:
    """Every feature of every jet of ``sample`` (``workers`` processes for the EFPs)."""
    table = observables_table(sample.hits, sample.eta, hit_threshold)
    scalars = {k: table[k] for k in JET_SCALARS}
    profiles = np.array([radial_profile(h) for h in sample.hits]).reshape(len(sample), len(RADIAL_BINS))
    for i, k in enumerate(RADIAL_BINS):
        scalars[k] = profiles[:, i]
    per_hit: dict[str, np.ndarray] = {}
    for g, group in enumerate(_HIT_GROUPS):
        sel = [h if group == "all" else h.select(g) for h in sample.hits]
        per_hit[f"hit_x_{group}"] = np.concatenate([h.x for h in sel] + [np.zeros(0)])
        per_hit[f"hit_y_{group}"] = np.concatenate([h.y for h in sel] + [np.zeros(0)])
        e = np.concatenate([h.energy for h in sel] + [np.zeros(0)])
        per_hit[f"hit_log_energy_{group}"] = np.log(e[e > 0])
    return SampleFeatures(scalars, per_hit, efp_features(sample.hits, sample.eta, workers))


def _w1(a: np.ndarray, b: np.ndarray) -> float:
    return float(wasserstein_distance(a, b)) if len(a) and len(b) else float("nan")


def _ratio(value: float, floor: float) -> float | None:
    if not (math.isfinite(value) and math.isfinite(floor)) or floor <= 0:
        return None
    return value / floor


def compare_samples(ref: SampleFeatures, other: SampleFeatures, seed: int, classifier_epochs: int = 100
                    ) -> dict[str, Any]:
    """Every figure between ``ref`` and ``other``: ``{"w1": {name: float}, "fpd", "kpd", "auc"}``."""
    x, y = ref.matrix(), other.matrix()
    return {"w1": {k: _w1(ref.values(k), other.values(k)) for k in W1_FEATURES},
            "fpd": fpd(x, y, seed=seed), "kpd": kpd(x, y, seed=seed),
            "auc": classifier_auc(x, y, seed=seed, epochs=classifier_epochs)}


def _with_floor(value: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """Attach floors and multiples to the figures of :func:`compare_samples`."""
    out: dict[str, Any] = {"w1": {k: {"value": v, "floor": floor["w1"][k], "multiple": _ratio(v, floor["w1"][k])}
                                  for k, v in value["w1"].items()}}
    for name in ("fpd", "kpd"):
        v, f = value[name], floor[name]
        err = math.hypot(v["error"], f["error"]) if math.isfinite(v["error"]) and math.isfinite(f["error"]) else 0.0
        out[name] = {"value": v["value"], "error": v["error"], "floor": f["value"], "floor_error": f["error"],
                     "multiple": _ratio(v["value"], max(f["value"], f["error"] if math.isfinite(f["error"]) else 0.0)),
                     "z": (v["value"] - f["value"]) / err if err > 0 else None}
    a, fa = value["auc"], floor["auc"]
    out["auc"] = {"value": a["auc"], "floor": fa["auc"], "null_std": a["null_std"],
                  "multiple": abs(a["auc"] - 0.5) / max(abs(fa["auc"] - 0.5), a["null_std"])}
    mult = [m["multiple"] for m in out["w1"].values()]
    out["w1_within_2x_floor"] = int(sum(1 for m in mult if m is not None and m <= 2.0))
    out["w1_count"] = len(mult)
    return out


def evaluate_generation(real: Mapping[str, JetsLike], generated: Mapping[str, JetsLike] | None = None,
                        out_dir: str | Path | None = None, seed: int = 0,
                        baselines: Mapping[str, Mapping[str, JetsLike]] | None = None,
                        hit_threshold: float = GENERATION_HIT_THRESHOLD, plots: bool = True,
                        classifier_epochs: int = 100, gallery: int = 2, workers: int = 1) -> dict[str, Any]:
    """Compare generated jets with held-out real jets per jet type (module docstring).

    real: jet type (e.g. "ttbar", "qcd") -> real held-out jets (:class:`JetBatch` ``[n, 3, 125, 125]``
        images, a sequence of :class:`Hits`, or a :class:`JetSample`); at least 4 per type.
    generated: jet type -> jets of the model under test (named "generated" in the result); types
        missing from ``real`` are an error.
    baselines: more generators, name -> (jet type -> jets), e.g. ``{"gaussian_pca": {...}}``.
    out_dir: where the plots go (``None``: no plots).
    workers: processes for the EFPs (the costly part: ~50-150 ms per jet on one core).
    Returns the report section: ``{"settings", "feature_names", "types": {type: {"n_jets",
    "floor", "samples": {name: figures with floors and multiples}}}, "plots", "timing_s"}``.
    """
    samples: dict[str, Mapping[str, JetsLike]] = {}
    if generated is not None:
        samples["generated"] = generated
    samples.update(baselines or {})
    if not samples:
        raise ConfigError("evaluate_generation needs generated jets or at least one baseline")
    result: dict[str, Any] = {
        "settings": {"seed": seed, "hit_threshold_gev": hit_threshold, "workers": workers,
                     "classifier_epochs": classifier_epochs,
                     "radial_edges": RADIAL_EDGES.tolist(), "w1_features": list(W1_FEATURES)},
        "feature_names": feature_names(), "types": {}, "plots": [], "timing_s": {}}
    t0 = time.perf_counter()
    plot_data: dict[str, dict[str, JetSample]] = {}
    feats_by_type: dict[str, dict[str, SampleFeatures]] = {}
    for t, real_jets in real.items():
        r = as_sample(real_jets, f"real[{t}]")
        gens = {name: as_sample(s[t], f"{name}[{t}]") for name, s in samples.items() if t in s}
        unknown = [f"{name}[{k}]" for name, s in samples.items() for k in s if k not in real]
        if unknown:
            raise ConfigError(f"generated jet types without real jets: {', '.join(unknown)}")
        if not gens:
            continue
        if len(r) < 4:
            raise ConfigError(f"jet type '{t}': need at least 4 real jets for two halves, got {len(r)}")
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(r))
        half = len(r) // 2
        n = min([half] + [len(g) for g in gens.values()])
        if n < 4:
            raise ConfigError(f"jet type '{t}': need at least 4 jets per sample, got {n}")
        ref, floor_sample = r.take(perm[:n]), r.take(perm[half:half + n])
        cut = {name: g.take(np.random.default_rng(seed + 1).permutation(len(g))[:n]) for name, g in gens.items()}
        feats = {"real": compute_features(ref, hit_threshold, workers),
                 "real_floor": compute_features(floor_sample, hit_threshold, workers)}
        feats.update({name: compute_features(g, hit_threshold, workers) for name, g in cut.items()})
        floor = compare_samples(feats["real"], feats["real_floor"], seed, classifier_epochs)
        entry: dict[str, Any] = {
            "n_jets": n, "n_real_available": len(r),
            "floor": {"w1": floor["w1"], "fpd": floor["fpd"], "kpd": floor["kpd"], "auc": floor["auc"]["auc"]},
            "samples": {name: _with_floor(compare_samples(feats["real"], feats[name], seed, classifier_epochs), floor)
                        for name in cut},
        }
        result["types"][t] = entry
        plot_data[t] = {"real": ref, "real_floor": floor_sample, **cut}
        feats_by_type[t] = feats
    result["timing_s"]["metrics"] = time.perf_counter() - t0
    if plots and out_dir is not None and result["types"]:
        from gvae.evaluate import plots_generation

        t0 = time.perf_counter()
        result["plots"] = plots_generation.all_plots(plot_data, feats_by_type, Path(out_dir), gallery=gallery)
        result["timing_s"]["plots"] = time.perf_counter() - t0
    return result
