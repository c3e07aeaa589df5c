"""``python -m gvae.evaluate`` for a ``model.decoder: latent`` checkpoint: both uses of the model.

1. **Reconstruction through the latent.** Each test graph -> ``encode`` (latent mean) -> ``decode``
   (deterministic counts) -> :func:`gvae.model.snap.snap_to_detector` -> hits. Only the latent crosses
   from the input jet to the output. Compared on the same jets with

   * the latent-only PCA (:class:`gvae.evaluate.latent_pca.LatentOnlyPCA`, the same number of numbers
     per jet, decoded without the true mask or channel, snapped by the same code),
   * the PCA GIVEN the true mask and channel (:class:`gvae.evaluate.baseline.PCABaseline`; not a
     ``k``-number compressor, labelled as such),
   * optionally a paper-decoder checkpoint (``--compare-checkpoint``), scored against the same originals,
   * the "random other jet" scale (each test jet against the next one).

   Figures: EMD per channel and all channels (median, q16, q84), count / energy / mass responses.

2. **Generation from the prior** ``p(z | type, pT)``: per jet type, as many jets as the held-out test
   jets of that type, with their (type, pT) conditions (and their axis eta for the observables), decoded
   with seeded count noise and snapped; beside the Gaussian-PCA generator
   (:class:`gvae.evaluate.latent_pca.GaussianPCAGenerator`, fitted per type and pT tercile on the training
   jets, sampled at the same conditions, decoded the same way). Every figure
   (:func:`gvae.evaluate.generation.evaluate_generation`: W1s, FPD, KPD, classifier AUC) beside its truth
   floor: the test jets of a type are split in two disjoint halves (seeded); one is the reference, the
   other the floor sample, and every generated sample is cut to the same size.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from gvae.data.detector import DetectorConfig
from gvae.errors import ConfigError, DataError
from gvae.evaluate.emd import EMD_CHANNELS, batch_emds
from gvae.evaluate.hits import hits_from_features, hits_from_reconstruction
from gvae.evaluate.latent_pca import GaussianPCAGenerator, LatentOnlyPCA, decoded_hits, jet_type_names
from gvae.evaluate.observables import OBSERVABLES, compare, observables_table, summary
from gvae.graphs.normalisation import Normalisation
from gvae.jets import Hits
from gvae.model.snap import SnapStats, evaluation_hits, snap_to_detector

log = logging.getLogger(__name__)

SCHEMA_VERSION = "latent-2"
#: Largest node energy of a PCA / paper-decoder reconstruction (GeV), as gvae.evaluate.run.
MAX_NODE_ENERGY = 14000.0
#: Reconstruction models in report order: key -> label.
MODEL_LABELS: dict[str, str] = {
    "gvae": "latent-only GVAE (decoder reads only z)",
    "latent_pca": "PCA, latent only (no true mask/channel)",
    "true_mask_pca": "PCA given the true mask and channel (not a k-number compressor)",
    "paper": "paper-decoder GVAE (--compare-checkpoint; decoder gets S, mask and channels of the input)",
    "other_jet": "random other jet (the next test jet)",
}
#: Fewest held-out jets of a type for its generation figures (two halves of >= 5: 5 classifier folds).
MIN_GENERATION_JETS = 10
#: Jets per decoder call when generating.
GENERATION_CHUNK = 64


def hit_counts(jets: list[Hits], threshold: float = 0.0) -> np.ndarray:
    """Hits per channel above ``threshold`` GeV, ``[n_jets, 3]``."""
    return np.array([[int(((h.channel == c) & (h.energy > threshold)).sum()) for c in range(3)] for h in jets]
                    ).reshape(len(jets), 3)


def _accumulate(stats: SnapStats | None, new: SnapStats) -> SnapStats:
    if stats is None:
        return new
    return SnapStats(stats.outside + new.outside, stats.merged + new.merged,
                     stats.below_threshold + new.below_threshold, stats.energy_lost + new.energy_lost)


def _jet_eta(batch: dict) -> np.ndarray:
    """Jet eta ``[B]`` from the shards (0 where missing or non-finite: local frame)."""
    n = len(batch["mask"])
    if "eta" not in batch:
        return np.zeros(n)
    eta = torch.as_tensor(batch["eta"]).double().numpy()
    return np.where(np.isfinite(eta), eta, 0.0)


@torch.no_grad()
def reconstruct_latent(model: torch.nn.Module, loader: Iterable[dict], norm: Normalisation,
                       pca: LatentOnlyPCA | None = None, true_mask_pca: Any = None,
                       detector: DetectorConfig = DetectorConfig(), progress: bool = True) -> dict:
    """Original, latent-GVAE and (optionally) both PCA baselines' hits of every jet of ``loader``.

    ``model`` is a :class:`gvae.model.GVAE` with ``decoder: latent``; ``loader`` yields collated shard
    batches. Returns ``{"original", "gvae", "pca", "true_mask_pca": list[Hits], "snap": {"gvae", "pca":
    SnapStats}, "pt", "y", "eta", "row": [n], "mu": [n, C, L]}``.
    """
    from gvae.graphs.shards import model_inputs

    out: dict = {"original": [], "gvae": [], "pca": [], "true_mask_pca": [], "pt": [], "y": [], "eta": [],
                 "row": [], "mu": []}
    stats: dict[str, SnapStats | None] = {"gvae": None, "pca": None}
    u_max = (math.log(MAX_NODE_ENERGY) - norm.mean_u) / norm.std_u
    for batch in tqdm(loader, desc="latent reconstruction", unit="batch", disable=not progress, leave=False):
        features6, neighbours, mask = model_inputs(batch, norm)
        mu, _ = model.encode(features6, neighbours, mask)
        table, st = snap_to_detector(model.decode(mu), norm, detector)
        stats["gvae"] = _accumulate(stats["gvae"], st)
        out["gvae"] += evaluation_hits(table)
        raw = torch.as_tensor(batch["features"]).numpy()
        m = mask.numpy().astype(bool)
        out["original"] += [hits_from_features(raw[j], m[j]) for j in range(len(m))]
        if pca is not None:
            table, st = snap_to_detector(pca.decode_set(pca.encode(features6, mask)), norm, detector)
            stats["pca"] = _accumulate(stats["pca"], st)
            out["pca"] += evaluation_hits(table)
        if true_mask_pca is not None:
            rec = np.asarray(true_mask_pca.reconstruct(features6[..., :3], mask), dtype=np.float64)
            rec[..., 2] = np.minimum(rec[..., 2], u_max)
            phys = np.asarray(norm.invert(rec, m), dtype=np.float64)
            out["true_mask_pca"] += [hits_from_reconstruction(phys[j], raw[j, :, 3], m[j]) for j in range(len(m))]
        out["pt"].append(torch.as_tensor(batch["pt"]).double().numpy())
        out["y"].append(torch.as_tensor(batch["y"]).numpy())
        out["eta"].append(_jet_eta(batch))
        out["row"].append(torch.as_tensor(batch["row"]).numpy() if "row" in batch else np.full(len(m), -1))
        out["mu"].append(mu.numpy())
    out["snap"] = stats
    for key in ("pt", "y", "eta", "row", "mu"):
        out[key] = np.concatenate(out[key]) if out[key] else np.zeros(0)
    return out


@torch.no_grad()
def generate_from_prior(model: torch.nn.Module, prior: Any, norm: Normalisation, label: np.ndarray, pt: np.ndarray,
                        seed: int, chunk: int = GENERATION_CHUNK) -> list[Hits]:
    """Jets of types ``label [n]`` (1 top, 0 QCD) at ``pt [n]`` GeV: ``z ~ prior`` (latent noise), decode
    with count noise, snap. One ``torch.Generator(seed)`` draws per chunk the latent noise ``[b, C*L]``
    then the count noise ``[b, 3]`` (the order of :class:`gvae.simulate.Simulator`)."""
    gen = torch.Generator().manual_seed(int(seed))
    out: list[Hits] = []
    for i in range(0, len(label), chunk):
        lab = torch.as_tensor(np.asarray(label[i:i + chunk], np.float32))
        p = torch.as_tensor(np.asarray(pt[i:i + chunk], np.float64))
        latent_noise = torch.randn(len(lab), prior.dim, generator=gen)
        count_noise = torch.randn(len(lab), 3, generator=gen)
        out += decoded_hits(model.decode(prior.sample(lab, p, latent_noise), count_noise), norm)
    return out


def _loader(data: Any, batch_size: int):
    from torch.utils.data import DataLoader

    from gvae.graphs.shards import collate

    return DataLoader(data, batch_size=batch_size, collate_fn=collate)


def _subset(shards: Any, limit: int | None):
    from torch.utils.data import Subset

    return shards if limit is None else Subset(shards, range(min(limit, len(shards))))


def fit_baselines(data: Path, norm: Normalisation, k: int, limit: int | None, batch_size: int = 256,
                  true_mask: bool = True) -> tuple[LatentOnlyPCA, Any, GaussianPCAGenerator]:
    """Fit on the training split: the latent-only PCA and the true-mask PCA (``k`` components each; None
    when not ``true_mask``: a reconstruction-only baseline) and the Gaussian-PCA generator (per jet type and
    training-pT tercile)."""
    from gvae.evaluate.baseline import PCABaseline
    from gvae.graphs.shards import GraphShards, model_inputs

    train = _subset(GraphShards(data, "train"), limit)
    lo, tm = LatentOnlyPCA(k), PCABaseline(k) if true_mask else None
    for b in _loader(train, batch_size):
        f, _, m = model_inputs(b, norm)
        lo.partial_fit(f, m)
        if tm is not None:
            tm.partial_fit(f[..., :3], m)
    lo.finish()
    if tm is not None:
        tm.finish()
    z, y, pt = [], [], []
    for b in _loader(train, batch_size):
        f, _, m = model_inputs(b, norm)
        z.append(lo.encode(f, m))
        y.append(torch.as_tensor(b["y"]).numpy())
        pt.append(torch.as_tensor(b["pt"]).double().numpy())
    z_all, pt_all = np.concatenate(z), np.concatenate(pt)
    edges = np.quantile(pt_all, [0.0, 1 / 3, 2 / 3, 1.0])
    edges[0], edges[-1] = 0.0, np.inf
    edges = np.unique(edges)
    generator = GaussianPCAGenerator(lo, norm, pt_edges=edges if len(edges) > 2 else None)
    generator.fit(z_all, jet_type_names(np.concatenate(y)), pt_all)
    return lo, tm, generator


def compare_checkpoint_hits(path: Path, data: Path, split: str, rows: np.ndarray, batch_size: int, device: str,
                            limit_rows: bool = True) -> tuple[list[Hits], dict[str, Any]]:
    """Hits of a paper-decoder checkpoint's deterministic reconstruction (noise 0) of the test jets with
    source rows ``rows [n]`` of ``data``'s ``split`` (in that order). Raises :class:`ConfigError` when the
    checkpoint does not fit the data or a row is missing."""
    from gvae.evaluate.checkpoint import load_model
    from gvae.graphs.shards import GraphShards, model_inputs

    loaded = load_model(path, device)
    if loaded.model_config.decoder != "paper":
        raise ConfigError(f"--compare-checkpoint '{path}' has model.decoder: {loaded.model_config.decoder}; "
                          "it is meant for a paper-decoder checkpoint")
    shards = GraphShards(data, split)
    if loaded.max_nodes != shards.max_nodes:
        raise ConfigError(f"--compare-checkpoint expects max_nodes = {loaded.max_nodes}, '{data}' has "
                          f"{shards.max_nodes}; give its graphs with --compare-data")
    norm = Normalisation.from_dict(loaded.normalisation)
    u_max = (math.log(MAX_NODE_ENERGY) - norm.mean_u) / norm.std_u
    by_row: dict[int, Hits] = {}
    wanted = {int(r) for r in rows}
    dropped = []
    with torch.no_grad():
        for b in tqdm(_loader(shards, batch_size), desc="compare checkpoint", unit="batch", leave=False):
            brow = torch.as_tensor(b["row"]).numpy()
            if not wanted.intersection(brow.tolist()):
                continue
            f, nb, m = model_inputs(b, norm)
            noise = torch.zeros(len(m), *loaded.latent_shape)
            out = loaded.inference(f.to(device), nb.to(device), m.to(device), noise.to(device)).cpu().numpy()
            out = out.astype(np.float64)
            out[..., 2] = np.minimum(out[..., 2], u_max)
            mk = m.numpy().astype(bool)
            phys = np.asarray(norm.invert(out, mk), dtype=np.float64)
            raw = torch.as_tensor(b["features"]).numpy()
            for j, r in enumerate(brow.tolist()):
                by_row[int(r)] = hits_from_reconstruction(phys[j], raw[j, :, 3], mk[j])
            dropped += torch.as_tensor(b["dropped_energy_fraction"]).double().numpy().tolist()
    missing = sorted(wanted - set(by_row))
    if missing:
        raise ConfigError(f"--compare-data '{data}' split '{split}' lacks {len(missing)} of the evaluated jets "
                          f"(first source row {missing[0]}); build both graph directories from the same jet file")
    info = {"path": str(path), "data": str(data), "max_nodes": int(shards.max_nodes),
            "latent": list(loaded.latent_shape), "epoch": loaded.epoch,
            "mean_dropped_energy_fraction": float(np.mean(dropped)) if dropped else 0.0}
    return [by_row[int(r)] for r in rows], info


def prior_summary(prior: Any) -> dict[str, Any]:
    """The prior's covariance choice per type, its criterion and the held-out figures of every candidate
    (``"<type>:<candidate>"``: log-likelihood, nats per jet; ``"...:frechet"``: Frechet distance), and how
    it was fitted (``fit``: requested covariance, jets; empty for priors stored before it was recorded), and
    its mixture components per type (``components``, ``weights``; ``mixture:<type>:<K>`` in the figures)."""
    names = {0: "qcd", 1: "ttbar"}
    return {"covariance": {names.get(int(k), str(k)): v for k, v in getattr(prior, "covariance", {}).items()},
            "criterion": getattr(prior, "criterion", "loglik"), "shrinkage": prior.shrinkage,
            "heldout_loglik_per_jet": dict(prior.selection), "fit": dict(getattr(prior, "fit_info", {}) or {}),
            "components": {names.get(int(k), str(k)): prior.components(k) for k in prior.chol},
            "weights": {names.get(int(k), str(k)): [float(w) for w in prior.component_tables(k)[0]]
                        for k in prior.chol}}


def _emd_table(values: np.ndarray) -> dict[str, dict[str, float]]:
    return {ch: {"median": float(np.median(values[:, i])), "q16": float(np.quantile(values[:, i], 0.16)),
                 "q84": float(np.quantile(values[:, i], 0.84)), "mean": float(np.mean(values[:, i]))}
            for i, ch in enumerate(EMD_CHANNELS)}


def generation_section(loaded: Any, norm: Normalisation, rec: dict, generator: GaussianPCAGenerator, seed: int,
                       out: Path | None, workers: int) -> tuple[dict[str, Any] | None, list[str]]:
    """The generation figures (module docstring, point 2); ``(section or None, notes)``."""
    from gvae.evaluate.generation import JetSample, evaluate_generation

    notes: list[str] = []
    if loaded.prior is None:
        notes.append("Generation skipped: the checkpoint has no prior p(z | type, pT) (it is fitted at the end of "
                     "`python -m gvae.train`; refit it with `python -m gvae.train --fit-prior-only`).")
        return None, notes
    types = jet_type_names(rec["y"])
    real: dict[str, JetSample] = {}
    gvae_jets: dict[str, JetSample] = {}
    pca_jets: dict[str, JetSample] = {}
    ceilings: dict[str, dict[str, JetSample]] = {"gvae_reconstruction": {}, "latent_pca_reconstruction": {}}
    known = {0: "qcd", 1: "ttbar"}
    prior_types = {known[k] for k in loaded.prior.chol if k in known}
    for k, jt in enumerate(sorted(set(types))):
        idx = np.flatnonzero(types == jt)
        if len(idx) < MIN_GENERATION_JETS or jt not in prior_types or jt not in generator.jet_types:
            notes.append(f"Generation figures skipped for '{jt}': {len(idx)} held-out jets (at least "
                         f"{MIN_GENERATION_JETS} needed) or the type is missing from the prior / training jets.")
            continue
        eta, pt, lab = rec["eta"][idx], rec["pt"][idx], rec["y"][idx]
        real[jt] = JetSample([rec["original"][int(i)] for i in idx], eta)
        gvae_jets[jt] = JetSample(generate_from_prior(loaded.model, loaded.prior, norm, lab, pt, seed + 7919 * k), eta)
        pca_jets[jt] = JetSample(generator.sample(jt, len(idx), seed + 7919 * k + 1, pt), eta)
        # ceilings: the reconstructions (z = encoder mean) of the jets of the FLOOR half only (the split
        # evaluate_generation draws with `seed`), so they share no jet with the reference half
        floor_half = idx[np.random.default_rng(seed).permutation(len(idx))[len(idx) // 2:]]
        for name, key in (("gvae_reconstruction", "gvae"), ("latent_pca_reconstruction", "pca")):
            if len(rec.get(key, [])) == len(rec["original"]):
                ceilings[name][jt] = JetSample([rec[key][int(i)] for i in floor_half], rec["eta"][floor_half])
    if not real:
        return None, notes
    baselines = {"gvae": gvae_jets, "gaussian_pca": pca_jets, **{k: v for k, v in ceilings.items() if v}}
    section = evaluate_generation(real, None, out, seed, baselines=baselines, workers=workers)
    section["notes"] = [
        "Real = the held-out test jets of each type (graph nodes, no truncation at the default max_nodes); they "
        "are split in two disjoint halves (seeded): the reference and the floor sample. Every generated sample "
        "is cut to the half size, so each figure sits beside the same figure between two real samples of its size.",
        "gvae = z sampled from the checkpoint's prior p(z | type, pT) at the test jets' (type, pT), decoded with "
        f"seeded count noise (seed {seed}) and snapped to the detector; gaussian_pca = a full-covariance Gaussian "
        "over the latent-only PCA coefficients of the training jets per type and training-pT tercile, sampled at "
        "the same conditions and decoded and snapped the same way. Generated jets take the axis eta of the test "
        "jet whose conditions they carry (for masses and pTs).",
        "Ceilings, not generators: gvae_reconstruction = the GVAE's reconstructions (z = encoder mean, "
        "deterministic counts) and latent_pca_reconstruction = the latent-only PCA's reconstructions of the "
        "floor-half jets (no jet of the reference half). A prior that sampled exactly the latents of real jets "
        "would land here, so a generator's figure above its ceiling is the prior's share, the ceiling's own "
        "distance from the floor the decoder's."]
    if loaded.prior is not None and getattr(loaded.prior, "covariance", None):
        section["prior"] = prior_summary(loaded.prior)
    return section, notes


def _markdown(report: dict[str, Any], settings: Any) -> str:
    from gvae.evaluate.report_generation import generation_markdown, prior_markdown, reconstruction_markdown

    ck, d = report["checkpoint"], report["data"]
    generation_only = report.get("mode") == "generation-only"
    lines = ["# gvae evaluation (latent-only decoder)" + (": generation only" if generation_only else ""), "",
             f"- checkpoint `{ck['path']}` (epoch {ck['epoch']}), latent {ck['latent']['clusters']} x "
             f"{ck['latent']['dim']} = {ck['latent']['size']} numbers per jet; {d['n_jets']} `{d['split']}` jets of "
             f"`{d['path']}`",
             f"- latent-only PCA: {report['baseline']['components']} components, explained variance "
             f"{report['baseline']['explained_variance_fraction']:.3f}",
             f"- command: `{report['settings']['command']}`"]
    if report.get("reconstruction_baselines"):
        lines += reconstruction_markdown(report["reconstruction_baselines"])
    if report.get("counts"):
        lines += ["", "| hits per jet, mean (track, ECAL, HCAL) | |", "|---|---|"]
        for k, v in report["counts"].items():
            lines.append(f"| {k} | {', '.join(f'{x:.1f}' for x in v)} |")
    if report.get("prior"):
        lines += prior_markdown(report["prior"])
    if report.get("generation"):
        lines += generation_markdown(report["generation"])
    lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    if report["plots"]:
        lines += ["", "## Plots", ""] + [f"- `{p}`" for p in report["plots"]]
    lines += ["", "Timing [s]: " + ", ".join(f"{k} {v:.1f}" for k, v in report["timing_s"].items())]
    return "\n".join(lines) + "\n"


def _report_head(mode: str, settings: Any, loaded: Any, shards: Any, n_jets: int) -> dict[str, Any]:
    """The first keys of both reports: schema, mode, time, version, checkpoint and data."""
    import gvae

    c, l = loaded.model.latent_shape
    return {"schema_version": SCHEMA_VERSION, "mode": mode,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "gvae_version": gvae.__version__,
            "checkpoint": {"path": str(settings.checkpoint), "decoder": "latent",
                           "latent": {"clusters": c, "dim": l, "size": c * l}, "epoch": loaded.epoch},
            "data": {"path": str(settings.data), "split": settings.split, "n_jets": n_jets,
                     "max_nodes": int(shards.max_nodes)}}


def _snap_summary(snap: dict[str, Any]) -> dict[str, Any]:
    """Per model, what snapping to the detector dropped or merged (plain lists)."""
    return {k: {"outside": s.outside.tolist(), "merged": s.merged.tolist(),
                "below_threshold": s.below_threshold.tolist(), "energy_lost_gev": s.energy_lost}
            for k, s in snap.items() if s is not None}


def _write_reports(out: Path, report: dict[str, Any], settings: Any) -> dict[str, Any]:
    """Write ``report.json`` and ``report.md`` into ``out``; returns the report as plain JSON values."""
    from gvae.evaluate.report import _clean

    report = json.loads(json.dumps(_clean(report)))
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(_markdown(report, settings))
    return report


def _prepare(
settings: Any, loaded: Any, true_mask: bool) -> tuple:
    """Common start of both evaluations: seed, output folder, the test shards and the baselines fitted on
    the training split. Returns ``(out, timing, notes, norm, shards, pca, true_pca, generator)``;
    ``true_pca`` is None unless ``true_mask``."""
    torch.manual_seed(settings.seed)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    notes: list[str] = list(settings.notes)
    norm = Normalisation.from_dict(loaded.normalisation)
    c, l = loaded.model.latent_shape
    shards = _test_shards(settings, loaded)
    t = time.perf_counter()
    pca, true_pca, generator = fit_baselines(settings.data, norm, c * l, settings.baseline_max_train,
                                             true_mask=true_mask)
    timing["baseline_fit"] = time.perf_counter() - t
    if pca.rank_limited:
        notes.append(f"The PCA baselines are rank-limited: {pca.n_samples} training jets span {pca.rank} "
                     f"directions, so they use {pca.n_components} components (the GVAE latent has {c * l}).")
    return out, timing, notes, norm, shards, pca, true_pca, generator


def evaluate_latent(settings: Any, loaded: Any) -> dict:
    """``python -m gvae.evaluate`` for a ``model.decoder: latent`` checkpoint (module docstring).

    settings: :class:`gvae.evaluate.run.Settings`; loaded: the checkpoint (:class:`gvae.model.LoadedModel`).
    Writes ``report.json``, ``report.md``, ``per_jet.csv`` and the plots into ``settings.out``; returns
    the report (plain JSON values).
    """
    if getattr(settings, "generation_only", False):
        return evaluate_generation_only(settings, loaded)
    out, timing, notes, norm, shards, pca, true_pca, generator = _prepare(settings, loaded, true_mask=True)
    c, l = loaded.model.latent_shape

    t = time.perf_counter()
    rec = reconstruct_latent(loaded.model, _loader(_subset(shards, settings.max_jets), settings.batch_size), norm,
                             pca, true_pca)
    n = len(rec["original"])
    samples = {"gvae": rec["gvae"], "latent_pca": rec["pca"], "true_mask_pca": rec["true_mask_pca"],
               "other_jet": rec["original"][1:] + rec["original"][:1]}
    compare_info = None
    if getattr(settings, "compare_checkpoint", None):
        samples["paper"], compare_info = compare_checkpoint_hits(
            Path(settings.compare_checkpoint), Path(settings.compare_data or settings.data), settings.split,
            rec["row"], settings.batch_size, settings.device)
        samples = {k: samples[k] for k in MODEL_LABELS if k in samples}
        if compare_info["max_nodes"] < max((len(h) for h in rec["original"]), default=0):
            notes.append(f"The paper-decoder model sees graphs truncated to {compare_info['max_nodes']} nodes "
                         f"(mean dropped energy fraction {compare_info['mean_dropped_energy_fraction']:.3f}); its "
                         "EMD is measured against the same untruncated originals as every other row.")
    timing["reconstruction"] = time.perf_counter() - t

    t = time.perf_counter()
    emds = {k: batch_emds(rec["original"], v, settings.emd_R, settings.workers, desc=f"EMD {k}")
            for k, v in samples.items()}
    timing["emd"] = time.perf_counter() - t
    t = time.perf_counter()
    tables = {"original": observables_table(rec["original"], rec["eta"], settings.hit_threshold)}
    tables.update({k: observables_table(v, rec["eta"], settings.hit_threshold) for k, v in samples.items()})
    models = {k: {"label": MODEL_LABELS[k], "emd": {ch: summary(emds[k][:, i]) for i, ch in enumerate(EMD_CHANNELS)},
                  "observables": {o: compare(tables["original"][o], tables[k][o]) for o in OBSERVABLES}}
              for k in samples}
    timing["observables"] = time.perf_counter() - t

    plot_files: list[str] = []
    if settings.plots:
        from gvae.evaluate import plots

        t = time.perf_counter()
        recon = {k: v for k, v in emds.items() if k != "other_jet"}
        plot_files.append(plots.emd_histograms(recon, out / "emd_histograms.png", settings.emd_R).name)
        for j in range(min(settings.displays, n)):
            plot_files.append(plots.event_display(
                {"original": rec["original"][j], "gvae": samples["gvae"][j], "latent_pca": samples["latent_pca"][j]},
                out / f"event_display_{j}.png", title=f"jet {j} (source row {int(rec['row'][j])})").name)
        plot_files.append(plots.observable_histograms({k: v for k, v in tables.items() if k != "other_jet"},
                                                      out / "observables.png").name)
        timing["plots"] = time.perf_counter() - t

    gen_section = None
    if settings.generation:
        t = time.perf_counter()
        gen_section, gen_notes = generation_section(loaded, norm, rec, generator, settings.seed,
                                                    out if settings.plots else None, settings.workers)
        notes += gen_notes
        timing["generation"] = time.perf_counter() - t
        if gen_section:
            plot_files += list(gen_section["plots"])

    counts = {"original": hit_counts(rec["original"]), **{k: hit_counts(v) for k, v in samples.items()
                                                           if k != "other_jet"}}
    notes += ["Latent-only: the GVAE decoder receives only the latent mean (z = mu, deterministic counts); counts, "
              "channels, positions and energies all come from it. GVAE and latent-only PCA outputs are snapped to "
              "detector cells and readout thresholds by the same code (gvae.model.snap).",
              "EMD: Komiske-Metodiev-Thaler energy mover's distance, ground distance Delta R / R with R = "
              f"{settings.emd_R}, GeV; 'all' pools every channel. Responses: reco / original per jet, observables "
              f"with a {settings.hit_threshold} GeV hit threshold.",
              "random other jet: each test jet against the next test jet (the scale of an uninformative "
              "reconstruction).",
              f"Compression: the latent holds {c * l} numbers per jet; the latent-only PCA the same number; the PCA "
              "given the true mask and channel additionally reads each jet's node count, order and channels."]
    lost = [ch for ch in EMD_CHANNELS if models["gvae"]["emd"][ch]["median"] >= models["latent_pca"]["emd"][ch]["median"]]
    if lost:
        notes.append("The latent-only GVAE does NOT beat the latent-only PCA in median EMD for: " + ", ".join(lost) + ".")
    command = (f"python -m gvae.evaluate --checkpoint {settings.checkpoint} --data {settings.data} --split "
               f"{settings.split} --seed {settings.seed}" + (f" --max-jets {settings.max_jets}" if settings.max_jets else "")
               + (f" --compare-checkpoint {settings.compare_checkpoint}" if compare_info else ""))
    report = {
        **_report_head("full", settings, loaded, shards, n),
        "settings": {"emd_R": settings.emd_R, "hit_threshold_gev": settings.hit_threshold, "seed": settings.seed,
                     "noise": "zero (latent mean, deterministic counts)", "workers": settings.workers,
                     "baseline_train_jets_max": settings.baseline_max_train, "command": command},
        "baseline": pca.summary(),
        "true_mask_baseline": true_pca.summary(),
        "compare_checkpoint": compare_info,
        "emd": {"channels": list(EMD_CHANNELS), "unit": "GeV", **{k: _emd_table(v) for k, v in emds.items()}},
        "reconstruction_baselines": {"latent_size": c * l, "n_test": n, "models": models},
        "counts": {k: v.mean(0).tolist() for k, v in counts.items()},
        "snap": _snap_summary(rec["snap"]),
        "prior": None if loaded.prior is None else prior_summary(loaded.prior),
        "generation": gen_section,
        "timing_s": timing,
        "plots": plot_files,
        "notes": notes,
    }
    report = _write_reports(out, report, settings)
    cols = ["row"] + [f"emd_{k}_{ch}" for k in emds for ch in EMD_CHANNELS]
    np.savetxt(out / "per_jet.csv", np.column_stack([rec["row"].astype(np.float64)] + [emds[k] for k in emds]),
               delimiter=",", header=",".join(cols), comments="", fmt="%.6g")
    log.info("wrote %s and %s", out / "report.json", out / "report.md")
    return report


def _test_shards(settings: Any, loaded: Any):
    """The evaluated split; raises when it is empty or its ``max_nodes`` differs from the checkpoint's."""
    from gvae.graphs.shards import GraphShards

    shards = GraphShards(settings.data, settings.split)
    if len(shards) == 0:
        raise DataError(f"split '{settings.split}' has no jets", file=str(settings.data))
    if loaded.max_nodes != shards.max_nodes:
        raise ConfigError(f"the checkpoint expects max_nodes = {loaded.max_nodes}, the data has {shards.max_nodes}")
    return shards


def evaluate_generation_only(settings: Any, loaded: Any) -> dict:
    """``python -m gvae.evaluate --generation-only`` for a latent-decoder checkpoint with a prior: the
    generation figures alone (module docstring, point 2), with the same calls and seeds as the full
    evaluation, so its ``generation`` section is identical to the full report's.

    Computed: the latent-only PCA and the Gaussian-PCA generator (training split), the GVAE and latent-only
    PCA reconstructions of the evaluated jets (the generation section's ceilings; no EMD), the generated
    samples and their figures. Skipped: the PCA given the true mask, every reconstruction EMD, observable
    and plot, ``per_jet.csv``, ``--compare-checkpoint``. Writes ``report.json`` / ``report.md`` (``mode``:
    ``generation-only``; ``emd`` and ``reconstruction_baselines`` null) and the generation plots.
    """
    if loaded.prior is None:
        raise ConfigError(f"checkpoint '{settings.checkpoint}' has no prior p(z | type, pT) to generate from; fit one "
                          f"with `python -m gvae.train --fit-prior-only --checkpoint {settings.checkpoint} --data DIR`")
    out, timing, notes, norm, shards, pca, _, generator = _prepare(settings, loaded, true_mask=False)
    t = time.perf_counter()
    rec = reconstruct_latent(loaded.model, _loader(_subset(shards, settings.max_jets), settings.batch_size), norm, pca)
    timing["reconstruction_ceilings"] = time.perf_counter() - t
    t = time.perf_counter()
    gen_section, gen_notes = generation_section(loaded, norm, rec, generator, settings.seed,
                                                out if settings.plots else None, settings.workers)
    timing["generation"] = time.perf_counter() - t
    notes += gen_notes
    if gen_section is None:
        raise DataError(f"split '{settings.split}' gives no generation figures: " + " ".join(gen_notes),
                        file=str(settings.data))
    notes.append("Generation only (--generation-only): no reconstruction figures. The GVAE and latent-only PCA "
                 "reconstructions of the evaluated jets are computed only as the generation ceilings.")
    command = (f"python -m gvae.evaluate --generation-only --checkpoint {settings.checkpoint} --data {settings.data} "
               f"--split {settings.split} --seed {settings.seed}"
               + (f" --max-jets {settings.max_jets}" if settings.max_jets else ""))
    report = {
        **_report_head("generation-only", settings, loaded, shards, len(rec["original"])),
        "settings": {"emd_R": None, "hit_threshold_gev": None, "seed": settings.seed, "workers": settings.workers,
                     "baseline_train_jets_max": settings.baseline_max_train, "command": command,
                     "generation_only": True},
        "baseline": pca.summary(),
        "true_mask_baseline": None,
        "compare_checkpoint": None,
        "emd": None,
        "reconstruction_baselines": None,
        "counts": None,
        "snap": _snap_summary(rec["snap"]),
        "prior": prior_summary(loaded.prior),
        "generation": gen_section,
        "timing_s": timing,
        "plots": list(gen_section["plots"]),
        "notes": notes,
    }
    report = _write_reports(out, report, settings)
    log.info("wrote %s and %s (generation only)", out / "report.json", out / "report.md")
    return report


__all__ = ["MODEL_LABELS", "SCHEMA_VERSION", "evaluate_generation_only", "evaluate_latent", "fit_baselines",
           "generate_from_prior", "generation_section", "hit_counts", "reconstruct_latent"]
