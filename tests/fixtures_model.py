"""pytest fixtures: model stage.

* ``trained_checkpoint``: ``Path`` of ``best.pt`` of a tiny GVAE (:data:`TINY_MODEL`) trained
  for 2 epochs on the ``graph_dataset`` fixture (graphs of the generated jets) through the real
  :class:`gvae.train.loop.Trainer`; the run directory (``last.pt``, ``metrics.csv``, ...) is its
  parent. Load it with :func:`gvae.model.load_model`. Session scoped, a few seconds.
* ``synthetic_graphs``: a small shard directory (DESIGN §6) of synthetic jet-like hit patterns
  built with :func:`gvae.graphs.build.build_graph` (48 nodes, k = 4) for fast training tests.
* helpers: :func:`random_model_inputs` (valid ``features6, neighbours, mask`` batches),
  :func:`write_synthetic_graphs`, :func:`tiny_config` (a dict config for the tiny model).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gvae import geometry
from gvae.graphs.build import Hits, build_graph, stack_graphs
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.shards import FORMAT_VERSION, ShardWriter, write_metadata

from fixtures_shared import built_once

__all__ = ["TINY_MODEL", "tiny_config", "random_hits", "random_model_inputs",
           "write_synthetic_graphs", "synthetic_graphs", "trained_checkpoint", "latent_graphs",
           "latent_paper_checkpoints"]

#: architecture of the tiny test model (max_nodes/k are filled from the dataset)
TINY_MODEL: dict[str, Any] = {"hidden": 16, "clusters": [12, 6], "encoder_layers": [1, 1, 1],
                              "decoder_layers": [1, 1, 1], "latent_dim": 4, "decoder": "paper"}


def tiny_config(max_nodes: int, k: int, **training: Any) -> dict[str, Any]:
    """A complete config dict for fast tests (``training`` entries override the defaults)."""
    train = {"epochs": 2, "batch_size": 8, "lr": 3e-3, "lr_reference_batch": 8, "warmup_steps": 2,
             "patience": 0, "seed": 7}
    train.update(training)
    model = dict(TINY_MODEL, max_nodes=max_nodes, k=k)
    model["clusters"] = [min(c, max_nodes) for c in model["clusters"]]
    return {"model": model, "training": train}


def random_hits(rng: np.random.Generator, n_hits: int) -> Hits:
    """Jet-like hits: 1-3 prongs around the centre pixel, exponential energies, all channels."""
    prongs = rng.integers(1, 4)
    centres = rng.normal(geometry.CENTRE_PIXEL, 8.0, size=(prongs, 2))
    which = rng.integers(0, prongs, size=n_hits)
    pos = np.clip(np.rint(centres[which] + rng.normal(0, 4.0, size=(n_hits, 2))), 0,
                  geometry.IMAGE_SIZE - 1).astype(np.int64)
    energy = (rng.exponential(2.0, size=n_hits) + 0.05).astype(np.float32)
    channel = rng.integers(0, geometry.N_CHANNELS, size=n_hits)
    return Hits(channel, pos[:, 0], pos[:, 1], energy)


def random_model_inputs(batch: int, max_nodes: int, k: int, seed: int = 0
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Valid model inputs (DESIGN §5/§7) from real graphs of random hits: features6 f32
    ``[B, N, 6]``, neighbours i64 ``[B, N, k]``, mask bool ``[B, N]`` (jets of varied size)."""
    rng = np.random.default_rng(seed)
    graphs = [build_graph(random_hits(rng, int(rng.integers(3, max_nodes + max_nodes // 4))), k, max_nodes, jet=i)
              for i in range(batch)]
    arrays = stack_graphs(graphs, k, max_nodes)
    norm = Normalisation.compute(arrays["features"], arrays["mask"])
    mask = torch.from_numpy(arrays["mask"])
    features = norm.apply(torch.from_numpy(arrays["features"]), mask)
    return features, torch.from_numpy(arrays["neighbours"]), mask


def write_synthetic_graphs(out_dir: Path, counts: dict[str, int], max_nodes: int = 48, k: int = 4,
                           seed: int = 0, shard_size: int = 32) -> Path:
    """Write a shard directory (DESIGN §6) of synthetic jets: ``counts`` = jets per split."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    splits, norm = {}, None
    for split in ("train", "val", "test"):
        n = counts.get(split, 0)
        graphs = [build_graph(random_hits(rng, int(rng.integers(max_nodes // 3, 2 * max_nodes))),
                              k, max_nodes, jet=i) for i in range(n)]
        arrays = stack_graphs(graphs, k, max_nodes)
        if split == "train":
            norm = Normalisation.compute(arrays["features"], arrays["mask"])
        arrays["neighbours"] = arrays["neighbours"].astype(np.int16)
        arrays.update(pt=rng.uniform(400, 600, n).astype(np.float32),
                      m0=rng.uniform(0, 250, n).astype(np.float32),
                      y=(np.arange(n) % 2 == 0).astype(np.float32), row=np.arange(n, dtype=np.int64))
        with ShardWriter(out_dir / split, shard_size, k, max_nodes) as writer:
            if n:
                writer.add(arrays)
        splits[split] = {"count": writer.count, "shards": writer.shards,
                         "shard_counts": [min(shard_size, n - i) for i in range(0, n, shard_size)]}
    write_metadata(out_dir, {"format_version": FORMAT_VERSION, "source": "synthetic (tests)",
                             "seed": seed, "k": k, "max_nodes": max_nodes, "splits": splits,
                             "normalisation": norm.to_dict(), "geometry": {}, "truncation": {},
                             "builder": "gvae-graph-v1"})
    return out_dir


@pytest.fixture(scope="session")
def synthetic_graphs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shard directory with 64 train / 24 val / 16 test synthetic jets (48 nodes, k = 4)."""
    return built_once(tmp_path_factory, "synthetic_graphs",
                      lambda out: write_synthetic_graphs(out, {"train": 64, "val": 24, "test": 16}))


def _dataset_dir(graph_dataset: Any) -> Path:
    """The shard directory of the ``graph_dataset`` fixture (a path, or an object holding one)."""
    if isinstance(graph_dataset, (str, Path)):
        return Path(graph_dataset)
    for attr in ("out_dir", "path", "directory", "root"):
        if hasattr(graph_dataset, attr):
            return Path(getattr(graph_dataset, attr))
    return Path(graph_dataset)


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory, graph_dataset: Any) -> Path:
    """``best.pt`` of the tiny GVAE trained 2 epochs on ``graph_dataset``."""
    from gvae.graphs.shards import read_metadata
    from gvae.train.config import Config
    from gvae.train.loop import RunOptions, Trainer

    data = _dataset_dir(graph_dataset)
    meta = read_metadata(data)
    config = Config.from_dict(tiny_config(int(meta["max_nodes"]), int(meta["k"])))

    def build(run: Path) -> Path:
        threads = torch.get_num_threads()
        try:  # one thread: fastest for this tiny model and kind to a shared machine
            Trainer(config, RunOptions(data_dir=str(data), out_dir=str(run), device="cpu",
                                       progress=False, threads=1)).fit()
        finally:
            torch.set_num_threads(threads)
        return run / "best.pt"

    return built_once(tmp_path_factory, "trained_checkpoint", build)


def train_tiny(run: Path, data: Path, decoder: str, *extra: str, model: dict[str, Any] | None = None) -> Path:
    """Train ``tiny_config(48, 4)`` for one epoch on ``data`` into ``run`` with one thread; ``decoder``:
    ``latent`` (a small set decoder) or the config's paper decoder; ``extra``: more ``gvae.train`` flags;
    ``model``: more ``model`` entries. The caller's torch thread count is restored. Returns ``run / "best.pt"``."""
    import yaml

    from gvae.train.__main__ import main

    cfg = tiny_config(48, 4, epochs=1)
    if decoder == "latent":
        cfg["model"] = {k: v for k, v in cfg["model"].items() if k != "decoder"} | {
            "decoder": "latent", "decoder_hidden": 16, "decoder_heads": 2, "decoder_blocks": 1}
    cfg["model"] |= model or {}
    (run / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    threads = torch.get_num_threads()
    try:
        assert main(["--config", str(run / "tiny.yaml"), "--data", str(data), "--out", str(run), "--no-progress",
                     "--threads", "1", *extra]) == 0
    finally:
        torch.set_num_threads(threads)
    return run / "best.pt"


@pytest.fixture(scope="session")
def latent_graphs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 train / 24 val / 40 test synthetic jets (48 nodes, k = 4, seed 3; 20 test jets per type: enough
    for generation figures)."""
    return built_once(tmp_path_factory, "latent_graphs",
                      lambda out: write_synthetic_graphs(out, {"train": 64, "val": 24, "test": 40}, seed=3))


@pytest.fixture(scope="session")
def latent_paper_checkpoints(tmp_path_factory: pytest.TempPathFactory, latent_graphs: Path) -> dict[str, Path]:
    """``{"latent", "paper"}`` -> ``best.pt`` of :func:`train_tiny` on ``latent_graphs`` (the latent one with
    its prior fitted with the defaults); shared by the evaluation and prior-refit tests: read, never rewrite."""
    def build(out: Path) -> dict[str, Path]:
        runs = {d: out / d for d in ("latent", "paper")}
        for run in runs.values():
            run.mkdir()
        return {d: train_tiny(run, latent_graphs, d) for d, run in runs.items()}

    return built_once(tmp_path_factory, "latent_paper", build)
