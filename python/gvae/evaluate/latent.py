"""Reconstruction through the latent alone: the latent-only GVAE and the latent-only PCA baseline.

* :func:`reconstruct_latent`: test graph -> ``encode`` (latent mean) -> ``decode`` (deterministic
  counts) -> :func:`gvae.model.snap.snap_to_detector` -> per-jet hits. Only the latent crosses from
  the input jet to the output.
* :class:`LatentOnlyPCA`: PCA with as many components as the GVAE has latent numbers, over the
  flattened per-node vector ``[x', y', u', is_track, is_ecal, is_hcal, real]`` (nodes in the graph's
  order, padding rows zero). Decoding keeps the nodes whose reconstructed ``real`` flag exceeds 0.5,
  each with the channel of its largest one-hot entry: no true mask, count or channel is used. The
  decoded nodes are snapped to the detector exactly as the GVAE's, so both are compared on the same
  footing.
"""
from __future__ import annotations

import logging
from typing import Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from gvae.data.detector import DetectorConfig
from gvae.errors import ConfigError
from gvae.evaluate.hits import Hits, hits_from_features
from gvae.model.set_decoder import DecodedSet
from gvae.model.snap import SnapStats, evaluation_hits, snap_to_detector
from gvae.graphs.normalisation import Normalisation

log = logging.getLogger(__name__)
#: Features per node of the latent-only PCA vector.
PCA_NODE_FEATURES = 7


def node_vectors(features6: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """features6 ``[B, N, 6]``, mask ``[B, N]`` -> float64 ``[B, N * 7]`` (6 features + real flag, zero padding)."""
    f = features6.detach().to(torch.float64)
    m = mask.to(torch.float64).unsqueeze(-1)
    return torch.cat([f * m, m], dim=-1).reshape(len(f), -1).numpy()


class LatentOnlyPCA:
    """Linear autoencoder ``z = V^T (v - mean)``, ``v_hat = mean + V z`` on :func:`node_vectors`."""

    def __init__(self, n_components: int) -> None:
        if n_components < 1:
            raise ConfigError(f"PCA needs at least one component, got {n_components}")
        self.requested = int(n_components)
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None
        self.explained_fraction = float("nan")

    def fit(self, vectors: np.ndarray) -> "LatentOnlyPCA":
        """vectors ``[n, D]`` (training jets)."""
        if len(vectors) < 2:
            raise ConfigError(f"PCA needs at least 2 training jets, got {len(vectors)}")
        self.mean = vectors.mean(axis=0)
        xc = vectors - self.mean
        if len(xc) <= xc.shape[1]:
            _, sv, vt = np.linalg.svd(xc, full_matrices=False)
            var = sv ** 2
        else:
            var, vecs = np.linalg.eigh(xc.T @ xc)
            order = np.argsort(var)[::-1]
            var, vt = np.clip(var[order], 0, None), vecs[:, order].T
        rank = int((var > 1e-10 * max(var[0], 1e-300)).sum())
        k = min(self.requested, rank)
        self.components = vt[:k].copy()
        self.explained_fraction = float(var[:k].sum() / var.sum()) if var.sum() > 0 else float("nan")
        return self

    @property
    def n_components(self) -> int:
        return 0 if self.components is None else len(self.components)

    def decode(self, coefficients: np.ndarray, n_nodes: int) -> DecodedSet:
        """Coefficients ``[B, k]`` -> :class:`DecodedSet` of ``n_nodes`` slots (real flag > 0.5,
        channel = argmax of the one-hot part)."""
        v = (self.mean + coefficients @ self.components).reshape(len(coefficients), n_nodes, PCA_NODE_FEATURES)
        t = torch.as_tensor(v, dtype=torch.float32)
        real = t[..., 6] > 0.5
        channel = t[..., 3:6].argmax(-1)
        counts = torch.stack([(real & (channel == c)).sum(1) for c in range(3)], dim=1)
        zeros = torch.zeros(len(t), 3)
        return DecodedSet(xyu=t[..., :3], channel=channel, mask=real, counts=counts, log_count_mean=zeros,
                          log_count_logstd=zeros)

    def reconstruct(self, vectors: np.ndarray, n_nodes: int) -> DecodedSet:
        """Project and decode ``[B, D]`` node vectors."""
        if self.components is None or self.mean is None:
            raise ConfigError("LatentOnlyPCA.reconstruct called before fit()")
        return self.decode((vectors - self.mean) @ self.components.T, n_nodes)


def fit_latent_pca(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], n_components: int) -> LatentOnlyPCA:
    """Fit on ``(features6 [B, N, 6], mask [B, N])`` batches of the training split."""
    rows = [node_vectors(f, m) for f, m in batches]
    return LatentOnlyPCA(n_components).fit(np.concatenate(rows))


def _accumulate(stats: SnapStats | None, new: SnapStats) -> SnapStats:
    if stats is None:
        return new
    return SnapStats(stats.outside + new.outside, stats.merged + new.merged,
                     stats.below_threshold + new.below_threshold, stats.energy_lost + new.energy_lost)


@torch.no_grad()
def reconstruct_latent(model: torch.nn.Module, loader: Iterable[dict], norm: Normalisation,
                       pca: LatentOnlyPCA | None = None, detector: DetectorConfig = DetectorConfig(),
                       progress: bool = True) -> dict:
    """Original, latent-GVAE and (optionally) latent-only-PCA hits of every jet of ``loader``.

    ``model`` is a :class:`gvae.model.GVAE` with ``decoder: latent``; loader yields collated shard
    batches. Returns ``{"original", "gvae", "pca": list[Hits], "snap": {"gvae", "pca": SnapStats},
    "pt", "y", "mu"}``.
    """
    from gvae.graphs.shards import model_inputs

    out: dict = {"original": [], "gvae": [], "pca": [], "pt": [], "y": [], "mu": []}
    stats: dict[str, SnapStats | None] = {"gvae": None, "pca": None}
    for batch in tqdm(loader, desc="latent reconstruction", unit="batch", disable=not progress, leave=False):
        features6, neighbours, mask = model_inputs(batch, norm)
        mu, _ = model.encode(features6, neighbours, mask)
        decoded = model.decode(mu)
        table, st = snap_to_detector(decoded, norm, detector)
        stats["gvae"] = _accumulate(stats["gvae"], st)
        out["gvae"] += evaluation_hits(table)
        raw = torch.as_tensor(batch["features"]).numpy()
        m = mask.numpy()
        out["original"] += [hits_from_features(raw[j], m[j]) for j in range(len(m))]
        if pca is not None:
            dec = pca.reconstruct(node_vectors(features6, mask), mask.shape[1])
            table, st = snap_to_detector(dec, norm, detector)
            stats["pca"] = _accumulate(stats["pca"], st)
            out["pca"] += evaluation_hits(table)
        out["pt"].append(torch.as_tensor(batch["pt"]).numpy())
        out["y"].append(torch.as_tensor(batch["y"]).numpy())
        out["mu"].append(mu.numpy())
    out["snap"] = stats
    for key in ("pt", "y", "mu"):
        out[key] = np.concatenate(out[key]) if out[key] else np.zeros(0)
    return out


def hit_counts(jets: list[Hits], threshold: float = 0.0) -> np.ndarray:
    """Hits per channel above ``threshold`` GeV, ``[n_jets, 3]``."""
    return np.array([[int(((h.channel == c) & (h.energy > threshold)).sum()) for c in range(3)] for h in jets])


def _median_table(values: np.ndarray) -> dict[str, dict[str, float]]:
    from gvae.evaluate.emd import EMD_CHANNELS

    return {ch: {"median": float(np.median(values[:, i])), "q16": float(np.quantile(values[:, i], 0.16)),
                 "q84": float(np.quantile(values[:, i], 0.84)), "mean": float(np.mean(values[:, i]))}
            for i, ch in enumerate(EMD_CHANNELS)}


def evaluate_latent(settings, loaded) -> dict:
    """``python -m gvae.evaluate`` for a ``model.decoder: latent`` checkpoint.

    Reconstruction through the latent (encode -> latent mean -> decode with predicted counts -> snap)
    against the latent-only PCA with the same number of numbers per jet, and the 'random other jet'
    reference (each test jet against the next one). Writes ``report.json`` and ``report.md`` into
    ``settings.out`` and returns the report.
    """
    import datetime as _dt
    import json
    import time
    from pathlib import Path

    from torch.utils.data import DataLoader, Subset

    import gvae
    from gvae.evaluate.emd import EMD_CHANNELS, batch_emds
    from gvae.evaluate.report import _clean
    from gvae.graphs.shards import GraphShards, collate, model_inputs

    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    norm = Normalisation.from_dict(loaded.normalisation)
    c, l = loaded.model.latent_shape
    t = time.perf_counter()
    train = GraphShards(settings.data, "train")
    if settings.baseline_max_train is not None:
        train = Subset(train, range(min(settings.baseline_max_train, len(train))))

    def pairs():
        for b in DataLoader(train, batch_size=256, collate_fn=collate):
            f, _, m = model_inputs(b, norm)
            yield f, m
    pca = fit_latent_pca(pairs(), c * l)
    timing["baseline_fit"] = time.perf_counter() - t
    shards = GraphShards(settings.data, settings.split)
    data = shards if settings.max_jets is None else Subset(shards, range(min(settings.max_jets, len(shards))))
    t = time.perf_counter()
    rec = reconstruct_latent(loaded.model, DataLoader(data, batch_size=settings.batch_size, collate_fn=collate),
                             norm, pca)
    timing["reconstruction"] = time.perf_counter() - t
    t = time.perf_counter()
    n = len(rec["original"])
    emds = {"gvae": batch_emds(rec["original"], rec["gvae"], settings.emd_R, settings.workers, desc="EMD gvae"),
            "latent_pca": batch_emds(rec["original"], rec["pca"], settings.emd_R, settings.workers, desc="EMD pca"),
            "other_jet": batch_emds(rec["original"], rec["original"][1:] + rec["original"][:1], settings.emd_R,
                                    settings.workers, desc="EMD other jet")}
    timing["emd"] = time.perf_counter() - t
    counts = {k: hit_counts(rec[k]) for k in ("original", "gvae", "pca")}
    energy = {k: np.array([[h.energy[h.channel == ch].sum() for ch in range(3)] for h in rec[k]])
              for k in ("original", "gvae", "pca")}
    report = {
        "schema_version": "latent-1",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "gvae_version": gvae.__version__,
        "checkpoint": {"path": str(settings.checkpoint), "decoder": "latent", "latent": {"clusters": c, "dim": l,
                       "size": c * l}, "epoch": loaded.epoch},
        "data": {"path": str(settings.data), "split": settings.split, "n_jets": n},
        "settings": {"emd_R": settings.emd_R, "noise": "zero (latent mean, predicted counts)"},
        "baseline": {"method": "latent-only pca", "representation": "per node [x', y', u', one-hot channel, real]",
                     "components": pca.n_components, "explained_variance_fraction": pca.explained_fraction},
        "emd": {"channels": list(EMD_CHANNELS), "unit": "GeV", **{k: _median_table(v) for k, v in emds.items()}},
        "counts": {k: v.mean(0).tolist() for k, v in counts.items()},
        "count_response_median": {k: np.median(counts[k] / np.maximum(counts["original"], 1), axis=0).tolist()
                                  for k in ("gvae", "pca")},
        "energy_response_median": {k: np.median(energy[k] / np.maximum(energy["original"], 1e-9), axis=0).tolist()
                                   for k in ("gvae", "pca")},
        "snap": {k: {"outside": s.outside.tolist(), "merged": s.merged.tolist(),
                     "below_threshold": s.below_threshold.tolist(), "energy_lost_gev": s.energy_lost}
                 for k, s in rec["snap"].items() if s is not None},
        "prior": None if loaded.prior is None else {"shrinkage": loaded.prior.shrinkage,
                                                    "heldout_loglik_per_jet": loaded.prior.selection},
        "timing_s": timing,
        "notes": ["Latent-only: the decoder receives only the latent mean; counts, channels and positions all come "
                  "from it. Both GVAE and PCA outputs are snapped to detector cells and thresholds.",
                  "other_jet: each test jet against the next test jet (scale of an uninformative reconstruction)."],
    }
    # its own schema ("latent-1"): the paper-decoder report schema requires per-node observables
    (out / "report.json").write_text(json.dumps(_clean(report), indent=2) + "\n")
    lines = [f"## gvae evaluation (latent-only decoder)", "",
             f"- checkpoint `{settings.checkpoint}`, latent {c} x {l} = {c * l}; {n} `{settings.split}` jets",
             f"- baseline: latent-only PCA, {pca.n_components} components "
             f"(explained variance {pca.explained_fraction:.3f})", "",
             "| EMD [GeV] | " + " | ".join(f"{ch} median (q16-q84)" for ch in EMD_CHANNELS) + " |",
             "|---|" + "---|" * len(EMD_CHANNELS)]
    for k, label in (("gvae", "latent GVAE"), ("latent_pca", "latent-only PCA"), ("other_jet", "random other jet")):
        tab = report["emd"][k]
        lines.append(f"| {label} | " + " | ".join(f"{tab[ch]['median']:.1f} ({tab[ch]['q16']:.1f}-{tab[ch]['q84']:.1f})"
                                                  for ch in EMD_CHANNELS) + " |")
    lines += ["", "| hits per jet (track, ECAL, HCAL) | mean |", "|---|---|"]
    for k in ("original", "gvae", "pca"):
        lines.append(f"| {k} | {', '.join(f'{v:.1f}' for v in report['counts'][k])} |")
    lines += ["", f"Median energy response per channel: GVAE {np.round(report['energy_response_median']['gvae'], 3).tolist()}, "
              f"PCA {np.round(report['energy_response_median']['pca'], 3).tolist()}", ""]
    lines += [f"- {note}" for note in report["notes"]]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    log.info("wrote %s and %s", out / "report.json", out / "report.md")
    return json.loads((out / "report.json").read_text())
