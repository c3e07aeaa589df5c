"""The small committed reference model (``python -m gvae.export --reference``): generated, converted,
trained and exported through the documented stage commands."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gvae.errors import GvaeError

log = logging.getLogger(__name__)

REFERENCE_NAME = "gvae_reference"
#: Overrides of the reference training config, applied before ``--set``, to keep the committed files
#: small: latent 50 x 4 instead of 50 x 16 (the prior's two float64 Cholesky factors are
#: (C*L)^2 * 8 bytes each: 10 MB at 50 x 16, 0.6 MB at 50 x 4; issue 14 studied both sizes) and a
#: quarter of the demo's slot budget (the slot tables and the PCA path grow with the slots; the
#: .pt2 holds the weights once per entry point: 24 MB of files with the demo's slots).
REFERENCE_OVERRIDES = ("model.latent_dim=4", "model.slots=[40,176,40]")


def _step(command: list[str]) -> None:
    """Run one stage CLI (``python -m ...``) and fail with its output if it fails."""
    import subprocess

    log.info("reference: %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise GvaeError(f"reference build step failed (exit {done.returncode}): "
                        f"{' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def build_reference(args: argparse.Namespace, work: Path) -> Path:
    """Generate jets, convert them to graphs (k and max_nodes of ``args.config`` with its
    ``--set`` overrides) and train briefly in ``work``; write ``heldout.gvh`` (jets from another
    seed) to ``args.out``; return the checkpoint.

    Each stage runs through its own command line (the same commands as the demo), so the
    reference model is exactly what a user gets from the documented pipeline, only smaller.
    """
    from gvae.train.config import load_config

    overrides = [*REFERENCE_OVERRIDES, *(args.set or [])]
    model = load_config(args.config, overrides).model
    py = sys.executable
    _step([py, "-m", "gvae.data", "generate", "--process", "mixed", "--jets", str(args.jets),
           "--seed", str(args.seed), "--out", str(work / "jets.parquet")])
    _step([py, "-m", "gvae.data", "convert", str(work / "jets.parquet"), str(work / "graphs"),
           "--k", str(model.k), "--max-nodes", str(model.max_nodes)])
    _step([py, "-m", "gvae.train", "--config", str(args.config), "--data", str(work / "graphs"),
           "--out", str(work / "run"), "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--no-progress", *[a for kv in overrides for a in ("--set", kv)]])
    args.out.mkdir(parents=True, exist_ok=True)
    _step([py, "-m", "gvae.data", "generate", "--process", "mixed", "--jets",
           str(args.heldout_jets), "--seed", str(args.seed + 1000),
           "--out", str(args.out / "heldout.gvh")])
    return work / "run" / "best.pt"


#: Seed of the noise in the stored expectations (``expected.json`` / ``expected.npz``).
EXPECTATION_SEED = 7
#: Conditions simulated in the stored expectations.
EXPECTATION_JETS = 16


def _snapped_summary(decoded, norm) -> list[dict]:
    """Per jet of a decoded batch: the decoder's counts per channel and, after snapping to detector
    cells, the hit count and GeV per channel (what libgvae's Producer/Simulator report)."""
    import numpy as np

    from gvae.model.snap import snap_to_detector

    table, _ = snap_to_detector(decoded, norm)
    counts = decoded.counts.cpu().numpy()
    out = []
    for b in range(len(decoded)):
        sel = table.jet == b
        ch = table.channel[sel].astype(np.int64)
        energy = table.energy[sel].astype(np.float64)
        out.append({"decoded": counts[b].astype(int).tolist(),
                    "counts": np.bincount(ch, minlength=3).astype(int).tolist(),
                    "energy": np.bincount(ch, weights=energy, minlength=3).tolist()})
    return out


def reference_cases(heldout: Path, normalisation: dict, k: int, max_nodes: int, clusters: int, latent_dim: int,
                    conditions) -> dict[str, tuple[str, tuple]]:
    """The inputs of the stored expectations: case name -> (entry point, inputs in contract order).

    ``reconstruct_*``: the jets of ``heldout`` (graphs by :func:`gvae.graphs.build.build_graphs`,
    ``normalisation``) -> features ``[B,N,6]``, neighbours ``[B,N,k]``, mask ``[B,N]``, noise
    ``[B,C,L]``, count noise ``[B,3]``; deterministic: zero noise; sampling: noise of
    ``torch.Generator().manual_seed(EXPECTATION_SEED)`` drawn as ``randn(B,C,L)`` then ``randn(B,3)``
    (what libgvae's Producer draws from a caller ``NoiseGenerator(EXPECTATION_SEED)`` in one batch).
    ``simulate_sampling``: ``conditions [n,2]`` (type, pT) with ``randn(n, C*L)`` then ``randn(n,3)``
    of the same seed (libgvae's Simulator with a caller generator, one batch).
    """
    import torch

    from gvae.graphs.build import build_graphs
    from gvae.graphs.normalisation import Normalisation
    from gvae.io import read_jets

    jets = read_jets(heldout)
    graphs = build_graphs(jets.images, k, max_nodes)
    mask = torch.from_numpy(graphs["mask"])
    features = Normalisation.from_dict(normalisation).apply(torch.from_numpy(graphs["features"]), mask)
    neighbours = torch.from_numpy(graphs["neighbours"]).to(torch.int64)
    b, n = len(jets.images), len(conditions)
    g = torch.Generator().manual_seed(EXPECTATION_SEED)
    noise, counts = torch.randn(b, clusters, latent_dim, generator=g), torch.randn(b, 3, generator=g)
    g = torch.Generator().manual_seed(EXPECTATION_SEED)
    sim_noise, sim_counts = torch.randn(n, clusters * latent_dim, generator=g), torch.randn(n, 3, generator=g)
    graph = (features, neighbours, mask)
    return {"reconstruct_deterministic": ("reconstruct", (*graph, torch.zeros_like(noise), torch.zeros_like(counts))),
            "reconstruct_sampling": ("reconstruct", (*graph, noise, counts)),
            "simulate_sampling": ("simulate", (conditions, sim_noise, sim_counts))}


def expectations(checkpoint: Path, heldout: Path) -> tuple[dict, dict]:
    """Eager outputs of a latent-decoder checkpoint on :func:`reference_cases` (simulate conditions:
    :func:`gvae.export.verify.simulate_conditions` for ``EXPECTATION_JETS`` jets).

    Returns ``(summary, arrays)``: ``summary`` (JSON) has the seed, the conditions and, per case and
    jet, the decoder's counts and the snapped hit counts and GeV per channel (what libgvae's
    Producer/Simulator report); ``arrays`` (npz) the raw eager outputs
    ``<case>_{xyu,channel,hit_mask,counts}`` and ``simulate_conditions``.
    """
    import numpy as np
    import torch

    from gvae.export.entry import eager_reconstruct, eager_simulate
    from gvae.export.source import load_source
    from gvae.export.verify import simulate_conditions
    from gvae.graphs.normalisation import Normalisation

    source = load_source(checkpoint)
    if source.decoder != "latent":
        raise GvaeError(f"'{checkpoint}': reference expectations need a latent-decoder model (contract v2)")
    conditions = simulate_conditions(source, EXPECTATION_JETS)
    cases = reference_cases(heldout, source.normalisation, source.k, source.max_nodes, source.clusters,
                            source.latent_dim, conditions)
    model = source.gvae.eval()
    with torch.no_grad():
        decoded = {name: eager_reconstruct(model, *inputs) if entry == "reconstruct"
                   else eager_simulate(model, source.prior, *inputs) for name, (entry, inputs) in cases.items()}
    norm = Normalisation.from_dict(source.normalisation)
    summary = {"seed": EXPECTATION_SEED, "heldout": heldout.name,
               "weights_sha256": source.contract(name=REFERENCE_NAME, fmt="torchscript",
                                                 device="cpu")["weights_sha256"],
               "simulate_conditions": [{"jet_id": i, "jet_type": int(t), "pt": float(pt)}
                                       for i, (t, pt) in enumerate(conditions.tolist())],
               "cases": {name: _snapped_summary(d, norm) for name, d in decoded.items()}}
    arrays: dict[str, np.ndarray] = {"simulate_conditions": conditions.numpy()}
    for name, d in decoded.items():
        arrays[f"{name}_xyu"] = d.xyu.numpy()
        arrays[f"{name}_channel"] = d.channel.numpy().astype(np.int8)
        arrays[f"{name}_hit_mask"] = d.mask.numpy()
        arrays[f"{name}_counts"] = d.counts.numpy()
    return summary, arrays


def write_expectations(checkpoint: Path, out: Path) -> None:
    """Write ``out/expected.json`` and ``out/expected.npz`` (:func:`expectations` of ``out/heldout.gvh``)."""
    import json

    import numpy as np

    summary, arrays = expectations(checkpoint, out / "heldout.gvh")
    (out / "expected.json").write_text(json.dumps(summary, indent=1) + "\n")
    np.savez_compressed(out / "expected.npz", **arrays)
    log.info("reference: wrote %s and %s", out / "expected.json", out / "expected.npz")


#: Checkpoint keys kept in the committed ``gvae_reference.ckpt`` (no optimizer/scheduler/RNG state).
CHECKPOINT_KEYS = ("format", "gvae_version", "model", "config", "normalisation", "dataset", "prior", "epoch",
                   "val_metrics")


def write_checkpoint(checkpoint: Path, out: Path) -> Path:
    """Write the weights-only copy of a training checkpoint to ``out`` (what ``python -m gvae.export
    --checkpoint`` needs: model, config, normalisation, prior, the dataset's k/max_nodes), so the
    reference can be exported again for another device or torch version (e.g. CUDA on a GPU machine)."""
    import torch

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    kept = {k: ckpt[k] for k in CHECKPOINT_KEYS if k in ckpt}
    kept["dataset"] = {k: v for k, v in dict(kept.get("dataset", {})).items() if k in ("k", "max_nodes")}
    torch.save(kept, out)
    log.info("reference: wrote %s (%.1f kB)", out, out.stat().st_size / 1e3)
    return out
