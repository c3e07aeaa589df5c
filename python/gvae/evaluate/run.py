"""The evaluation pipeline behind ``python -m gvae.evaluate``: reconstruct held-out graphs with the
GVAE (deterministic, noise = 0) and with the PCA baseline, compute EMDs and observables, write the
report and the plots. A latent-decoder checkpoint goes to :mod:`gvae.evaluate.latent` (both uses; with
``generation_only`` the generation figures alone, :func:`gvae.evaluate.latent.evaluate_generation_only`)."""
from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import gvae
from gvae.errors import ConfigError, DataError
from gvae.evaluate import plots
from gvae.evaluate.baseline import PCABaseline
from gvae.evaluate.checkpoint import LoadedModel, load_model
from gvae.evaluate.emd import DEFAULT_R, EMD_CHANNELS, batch_emds
from gvae.evaluate.hits import hits_from_features, hits_from_reconstruction
from gvae.jets import Hits
from gvae.evaluate.observables import (DEFAULT_THRESHOLD, OBSERVABLES, RADIAL_EDGES, compare, observables_table,
                                       radial_profile, summary)
from gvae.evaluate.report import SCHEMA_VERSION, plain_report, write_json, write_markdown
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.loader import graph_loader
from gvae.graphs.shards import GraphShards, model_inputs

log = logging.getLogger(__name__)

#: Largest physical energy a reconstructed node may carry (GeV, the LHC beam energy x 2): outputs
#: beyond it are clamped (and counted in the notes) so that exp() cannot overflow.
MAX_NODE_ENERGY = 14000.0


@dataclass
class Settings:
    """Everything ``python -m gvae.evaluate`` can be told (see its --help)."""

    checkpoint: Path
    data: Path
    split: str = "test"
    out: Path = Path("evaluation")
    max_jets: int | None = None
    batch_size: int = 64
    emd_R: float = DEFAULT_R
    hit_threshold: float = DEFAULT_THRESHOLD
    workers: int = 1
    displays: int = 3
    baseline_max_train: int | None = None
    plots: bool = True
    device: str = "cpu"
    seed: int = 0
    generation: bool = True
    generation_only: bool = False
    compare_checkpoint: Path | None = None
    compare_data: Path | None = None
    notes: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jet_etas(batch: dict[str, Any]) -> tuple[np.ndarray, bool]:
    """Jet eta per jet if the shards carry it (``eta``), else zeros (local frame)."""
    if "eta" in batch:
        eta = torch.as_tensor(batch["eta"]).double().numpy()
        if np.all(np.isfinite(eta)):
            return eta, True
    return np.zeros(len(batch["mask"])), False


def fit_baseline(data: Path, norm: Normalisation, n_components: int, batch_size: int,
                 max_train: int | None) -> PCABaseline:
    """PCA baseline fitted on the training split's normalised node features."""
    train = GraphShards(data, "train")
    pca = PCABaseline(n_components)
    for batch in tqdm(graph_loader(train, batch_size, limit=max_train), desc="baseline fit", unit="batch", leave=False):
        features6, _, mask = model_inputs(batch, norm)
        pca.partial_fit(features6[..., :3], mask)
    return pca.finish()


def _to_physical(norm: Normalisation, output: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Normalised ``[B, N, 3]`` -> physical ``[B, N, 3]``; returns also the number of clamped nodes."""
    out = np.asarray(output, dtype=np.float64).copy()
    if not np.all(np.isfinite(out[mask])):
        raise DataError("reconstruction has non-finite values on real nodes", field="reconstruction")
    u_max = (math.log(MAX_NODE_ENERGY) - norm.mean_u) / norm.std_u
    clamped = int((out[..., 2][mask] > u_max).sum())
    out[..., 2] = np.minimum(out[..., 2], u_max)
    return np.asarray(norm.invert(out, mask), dtype=np.float64), clamped


@dataclass
class BatchReconstruction:
    """One batch through normalise -> model -> invert: physical ``(x, y, energy)`` float64 ``[B, N, 3]``
    of the GVAE and the baseline, the real-node mask bool ``[B, N]``, the raw node features float
    ``[B, N, 4]`` and the number of clamped node energies per model."""

    gvae: np.ndarray
    baseline: np.ndarray
    mask: np.ndarray
    raw: np.ndarray
    clamped: dict[str, int]


@torch.no_grad()
def reconstruct_batch(model: LoadedModel, norm: Normalisation, pca: PCABaseline, batch: dict[str, Any],
                      device: torch.device) -> BatchReconstruction:
    """Normalise a collated batch, run the GVAE (noise = 0) and the baseline, invert both to physical units."""
    features6, neighbours, mask = model_inputs(batch, norm)
    noise = torch.zeros(len(mask), *model.latent_shape)
    out = model.inference(features6.to(device), neighbours.to(device), mask.to(device), noise.to(device)).cpu()
    m = mask.numpy().astype(bool)
    g_phys, g_clamped = _to_physical(norm, out.numpy(), m)
    p_phys, p_clamped = _to_physical(norm, pca.reconstruct(features6[..., :3], mask), m)
    return BatchReconstruction(g_phys, p_phys, m, torch.as_tensor(batch["features"]).numpy(),
                               {"gvae": g_clamped, "baseline": p_clamped})


def reconstruct(settings: Settings, model: LoadedModel, shards: GraphShards, norm: Normalisation,
                pca: PCABaseline) -> dict[str, Any]:
    """Original, GVAE and baseline hits of every evaluated jet, plus per-jet metadata: ``original``,
    ``gvae``, ``baseline`` (lists of :class:`Hits`), ``eta``, ``n_nodes``, ``dropped``, ``row``
    (``[n_jets]`` each), ``eta_known`` and ``clamped`` (node counts per model)."""
    samples: dict[str, list[Hits]] = {"original": [], "gvae": [], "baseline": []}
    columns: dict[str, list[np.ndarray]] = {"eta": [], "n_nodes": [], "dropped": [], "row": []}
    eta_known = True
    clamped = {"gvae": 0, "baseline": 0}
    device = torch.device(settings.device)
    for batch in tqdm(graph_loader(shards, settings.batch_size, limit=settings.max_jets), desc="reconstruct",
                      unit="batch"):
        r = reconstruct_batch(model, norm, pca, batch, device)
        for name in clamped:
            clamped[name] += r.clamped[name]
        for j in range(len(r.mask)):
            samples["original"].append(hits_from_features(r.raw[j], r.mask[j]))
            samples["gvae"].append(hits_from_reconstruction(r.gvae[j], r.raw[j, :, 3], r.mask[j]))
            samples["baseline"].append(hits_from_reconstruction(r.baseline[j], r.raw[j, :, 3], r.mask[j]))
        eta, known = _jet_etas(batch)
        eta_known &= known
        columns["eta"].append(eta)
        columns["n_nodes"].append(torch.as_tensor(batch["n_nodes"]).numpy())
        columns["dropped"].append(torch.as_tensor(batch["dropped_energy_fraction"]).double().numpy())
        columns["row"].append(torch.as_tensor(batch["row"]).numpy())
    return {**samples, **{k: np.concatenate(v) for k, v in columns.items()}, "eta_known": eta_known,
            "clamped": clamped}


def _emd_summary(values: np.ndarray) -> dict[str, dict[str, float]]:
    """Summary statistics per EMD channel of ``[n_jets, 4]``."""
    return {ch: summary(values[:, i]) for i, ch in enumerate(EMD_CHANNELS)}


SAMPLES: tuple[str, ...] = ("original", "gvae", "baseline")


@dataclass
class Inputs:
    """What the evaluation reads: the model, the evaluated split, the normalisation used for both
    models (the checkpoint's, else the data's) and the notes these choices produced."""

    model: LoadedModel
    shards: GraphShards
    norm: Normalisation
    notes: list[str]


def check_settings(settings: Settings) -> None:
    """Raise :class:`ConfigError` for settings no step accepts."""
    if settings.max_jets is not None and settings.max_jets < 1:
        raise ConfigError(f"--max-jets must be >= 1, got {settings.max_jets}")
    if settings.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {settings.batch_size}")
    if settings.generation_only and not settings.generation:
        raise ConfigError("--generation-only and --no-generation exclude each other (the first skips the "
                          "reconstruction figures, the second the generation figures)")
    if settings.generation_only and settings.compare_checkpoint is not None:
        raise ConfigError("--compare-checkpoint adds a reconstruction row; it does not go with --generation-only")


def load_inputs(settings: Settings) -> Inputs:
    """Load the checkpoint and the split; check they fit together; choose the normalisation."""
    model = load_model(settings.checkpoint, settings.device)
    shards = GraphShards(settings.data, settings.split)
    if len(shards) == 0:
        raise DataError(f"split '{settings.split}' has no jets", file=str(settings.data))
    if model.max_nodes != shards.max_nodes:
        raise ConfigError(f"the checkpoint expects max_nodes = {model.max_nodes}, the data has {shards.max_nodes}")
    notes: list[str] = []
    # The model's inputs must be normalised as in its training: use the checkpoint's normalisation.
    trained_norm = Normalisation.from_dict(model.normalisation) if model.normalisation else None
    norm = trained_norm or shards.normalisation
    if trained_norm is not None and trained_norm != shards.normalisation:
        notes.append("The checkpoint's training normalisation differs from the data directory's; the "
                     "checkpoint's is used for the GVAE and the baseline.")
    return Inputs(model, shards, norm, notes)


def baseline_notes(pca: PCABaseline, latent_size: int) -> list[str]:
    """Notes on the fitted baseline (rank limitation)."""
    if not pca.rank_limited:
        return []
    return [f"The PCA baseline is rank-limited: the GVAE latent size is {latent_size} but the "
            f"{pca.n_samples} training jets span only {pca.rank} directions, so it uses "
            f"{pca.n_components} components."]


def compare_emds(rec: dict[str, Any], settings: Settings) -> dict[str, np.ndarray]:
    """EMD of each model's jets to the originals: model -> float64 ``[n_jets, 4]``."""
    return {m: batch_emds(rec["original"], rec[m], settings.emd_R, settings.workers, desc=f"EMD {m}")
            for m in ("gvae", "baseline")}


def compare_observables(rec: dict[str, Any], settings: Settings
                        ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Observables per sample (name -> ``[n_jets]``) and mean radial profiles per sample."""
    tables = {m: observables_table(rec[m], rec["eta"], settings.hit_threshold) for m in SAMPLES}
    profiles = {m: np.mean([radial_profile(h) for h in rec[m]], axis=0) for m in SAMPLES}
    return tables, profiles


def emd_verdict(emds: dict[str, np.ndarray]) -> tuple[dict[str, float], dict[str, str]]:
    """Per EMD channel: the fraction of jets where the GVAE beats the baseline, and the winner by median."""
    better = {ch: float(np.mean(emds["gvae"][:, i] < emds["baseline"][:, i])) for i, ch in enumerate(EMD_CHANNELS)}
    medians = {ch: (float(np.median(emds["gvae"][:, i])), float(np.median(emds["baseline"][:, i])))
               for i, ch in enumerate(EMD_CHANNELS)}
    by_median = {ch: "gvae" if g < b else "baseline" if b < g else "tie" for ch, (g, b) in medians.items()}
    return better, by_median


def finding_notes(settings: Settings, rec: dict[str, Any], by_median: dict[str, str], pca: PCABaseline,
                  latent_shape: tuple[int, int], max_nodes: int) -> list[str]:
    """The prose notes on the results and on what the numbers mean."""
    c, l = latent_shape
    notes = [f"{count} {name} node energies above {MAX_NODE_ENERGY} GeV were clamped to it."
             for name, count in rec["clamped"].items() if count]
    lost = [ch for ch, w in by_median.items() if w != "gvae"]
    if lost:
        notes.append(f"The GVAE does NOT beat the PCA baseline in median EMD for: {', '.join(lost)}.")
    notes.append("Original = the graph's nodes after truncation to max_nodes (what the model sees); the energy "
                 "dropped by truncation is reported under data.mean_dropped_energy_fraction.")
    notes.append("EMD: Komiske-Metodiev-Thaler energy flow distance, ground distance = Delta R in (eta, phi) "
                 f"offsets, R = {settings.emd_R}, energies in GeV (track channel: track pT); 'all' pools every "
                 "channel's hits in one event.")
    if not rec["eta_known"]:
        notes.append("Jet eta is not in the shards: masses and pTs are computed in the jet's local frame "
                     "(eta_jet = 0); responses are unaffected, absolute scales are low by up to cosh(1.4).")
    dim = 3 * int(max_nodes)
    notes.append(f"Compression: the node representation has {dim} numbers per jet (max_nodes x (x', y', u')) and "
                 f"the latent {c * l} ({100.0 * c * l / dim:.0f} %); PCA with that many components keeps "
                 f"{100.0 * pca.summary()['explained_variance_fraction']:.2f} % of the training variance.")
    notes.append("The GVAE decoder also receives the encoder's cluster-assignment matrices and pooled "
                 "adjacency (the paper's X = S X_pooled unpooling), so its information bottleneck is wider "
                 f"than the {c} x {l} latent; the PCA baseline gets exactly {pca.n_components} numbers per jet.")
    return notes


def issue14_sections(settings: Settings, inputs: Inputs, out: Path, rec: dict[str, Any], emds: dict[str, np.ndarray],
                     tables: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """The latent-only PCA beside the GVAE and today's PCA, and the Gaussian-PCA generation figures
    with truth floors (:func:`gvae.evaluate.baseline_sections.sections`)."""
    from gvae.evaluate.baseline_sections import sections

    c, l = inputs.model.latent_shape
    return sections(settings.data, inputs.shards, inputs.norm, c * l, rec, emds, tables, emd_R=settings.emd_R,
                    workers=settings.workers, hit_threshold=settings.hit_threshold, batch_size=settings.batch_size,
                    max_train=settings.baseline_max_train, out=out if settings.plots else None, seed=settings.seed,
                    generation=settings.generation)


def make_plots(settings: Settings, out: Path, rec: dict[str, Any], emds: dict[str, np.ndarray],
               tables: dict[str, dict[str, np.ndarray]], profiles: dict[str, np.ndarray]) -> list[str]:
    """Write the figures into ``out``; returns their file names."""
    paths = [plots.emd_histograms(emds, out / "emd_histograms.png", settings.emd_R)]
    for j in range(min(settings.displays, len(rec["original"]))):
        paths.append(plots.event_display(
            {m: rec[m][j] for m in SAMPLES}, out / f"event_display_{j}.png",
            title=f"jet {j} (source row {int(rec['row'][j])})"))
    paths.append(plots.observable_histograms(tables, out / "observables.png"))
    paths.append(plots.radial_profile_plot(profiles, out / "radial_profile.png"))
    return [p.name for p in paths]


def build_report(settings: Settings, inputs: Inputs, pca: PCABaseline, rec: dict[str, Any],
                 emds: dict[str, np.ndarray], tables: dict[str, dict[str, np.ndarray]],
                 profiles: dict[str, np.ndarray], timing: dict[str, float], plot_files: list[str],
                 notes: list[str]) -> dict[str, Any]:
    """The report (schema :data:`gvae.evaluate.report.REPORT_SCHEMA`), built and validated in memory:
    plain JSON values (NaN/inf -> None, numpy -> Python)."""
    model, shards = inputs.model, inputs.shards
    c, l = model.latent_shape
    better, by_median = emd_verdict(emds)
    meta = shards.metadata
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "gvae_version": gvae.__version__,
        "checkpoint": {"path": str(settings.checkpoint), "sha256": _sha256(Path(settings.checkpoint)),
                       "latent": {"clusters": c, "dim": l, "size": c * l}, "epoch": model.epoch,
                       "config": model.config},
        "data": {"path": str(settings.data), "split": settings.split, "n_jets": len(rec["original"]),
                 "max_nodes": int(shards.max_nodes), "k": int(meta.get("k", model.k)),
                 "mean_n_nodes": float(rec["n_nodes"].mean()),
                 "mean_dropped_energy_fraction": float(rec["dropped"].mean()),
                 "jet_eta": "from the shards" if rec["eta_known"] else "assumed 0 (not in the shards)"},
        "settings": {"emd_R": settings.emd_R, "hit_threshold_gev": settings.hit_threshold, "noise": "zero",
                     "baseline_train_jets_max": settings.baseline_max_train, "workers": settings.workers,
                     "batch_size": settings.batch_size, "radial_edges": RADIAL_EDGES.tolist(),
                     "device": settings.device},
        "baseline": pca.summary(),
        "emd": {"channels": list(EMD_CHANNELS), "unit": "GeV",
                "gvae": _emd_summary(emds["gvae"]), "baseline": _emd_summary(emds["baseline"]),
                "gvae_better_fraction": better, "better_by_median": by_median},
        "observables": {name: {"description": desc,
                               "gvae": compare(tables["original"][name], tables["gvae"][name]),
                               "baseline": compare(tables["original"][name], tables["baseline"][name])}
                        for name, desc in OBSERVABLES.items()},
        "radial_profile": {"edges": RADIAL_EDGES.tolist(), **{m: p.tolist() for m, p in profiles.items()}},
        "timing_s": timing,
        "plots": plot_files,
        "notes": notes,
    }
    return plain_report(report)


def evaluate(settings: Settings) -> dict[str, Any]:
    """Run the whole evaluation; writes ``report.json``, ``report.md``, ``per_jet.csv`` and plots
    into ``settings.out`` and returns the report (the same plain values as ``report.json``)."""
    check_settings(settings)
    from gvae.model import load_model as _load_checkpoint

    loaded = _load_checkpoint(settings.checkpoint, settings.device)
    if settings.compare_checkpoint is not None and loaded.model_config.decoder != "latent":
        raise ConfigError("--compare-checkpoint compares a paper-decoder model with a latent-decoder --checkpoint; "
                          f"'{settings.checkpoint}' has model.decoder: {loaded.model_config.decoder}")
    if settings.generation_only and loaded.model_config.decoder != "latent":
        raise ConfigError(f"--generation-only: checkpoint '{settings.checkpoint}' has model.decoder: "
                          f"{loaded.model_config.decoder}, which cannot generate (its decoder needs the input jet); "
                          "generation figures need a latent-decoder checkpoint with a prior")
    if loaded.model_config.decoder == "latent":  # reconstruction through the latent alone
        from gvae.evaluate.latent import evaluate_latent
        return evaluate_latent(settings, loaded)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}

    def timed(step: str, fn, *args):  # noqa: ANN001, ANN202 - a local stopwatch
        start = time.perf_counter()
        result = fn(*args)
        timing[step] = time.perf_counter() - start
        return result

    inputs = timed("load", load_inputs, settings)
    c, l = inputs.model.latent_shape
    pca = timed("baseline_fit", fit_baseline, settings.data, inputs.norm, c * l, settings.batch_size,
                settings.baseline_max_train)
    rec = timed("reconstruction", reconstruct, settings, inputs.model, inputs.shards, inputs.norm, pca)
    emds = timed("emd", compare_emds, rec, settings)
    tables, profiles = timed("observables", compare_observables, rec, settings)
    notes = list(settings.notes) + inputs.notes + baseline_notes(pca, c * l) + finding_notes(
        settings, rec, emd_verdict(emds)[1], pca, inputs.model.latent_shape, inputs.shards.max_nodes)
    plot_files = timed("plots", make_plots, settings, out, rec, emds, tables, profiles) if settings.plots else []
    extra = timed("issue14_sections", issue14_sections, settings, inputs, out, rec, emds, tables)
    timing.update(extra["timing_s"])
    notes += extra["notes"]
    plot_files += extra["plots"]

    _write_per_jet(out / "per_jet.csv", rec["row"], emds, tables)
    report = build_report(settings, inputs, pca, rec, emds, tables, profiles, timing, plot_files, notes)
    report = plain_report({**report, **{k: extra[k] for k in ("reconstruction_baselines", "generation")
                                        if extra[k] is not None}})
    write_json(report, out / "report.json")
    write_markdown(report, out / "report.md")
    log.info("wrote %s and %s", out / "report.json", out / "report.md")
    return report


def _write_per_jet(path: Path, rows: np.ndarray, emds: dict[str, np.ndarray],
                   tables: dict[str, dict[str, np.ndarray]]) -> None:
    """One line per jet: source row, EMDs of both models, observables of all three samples."""
    cols = ["row"] + [f"emd_{m}_{c}" for m in emds for c in EMD_CHANNELS] + \
        [f"{o}_{m}" for m in tables for o in OBSERVABLES]
    data = np.column_stack([rows.astype(np.float64)] + [emds[m][:, i] for m in emds for i in range(len(EMD_CHANNELS))]
                           + [tables[m][o] for m in tables for o in OBSERVABLES])
    np.savetxt(path, data, delimiter=",", header=",".join(cols), comments="", fmt="%.6g")
