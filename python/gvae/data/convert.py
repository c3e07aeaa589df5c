"""``convert IN OUT_DIR``: jets -> kNN graphs -> sharded tensors + ``dataset.json`` (DESIGN section 6).

Jets are read in blocks of rows (each block by one worker, results consumed in row order, so the
output does not depend on the number of workers). Each jet goes to train/val/test by a seeded
permutation of the row indices. The normalisation is computed from the real nodes of the training
split; truncation statistics (jets above ``max_nodes``, dropped energy fractions) are written to
``dataset.json`` and logged.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

import gvae
from gvae import geometry, io
from gvae.errors import ConfigError
from gvae.graphs.build import BUILDER_NAME, FEATURES, build_graph, build_graphs, check_config, stack_graphs
from gvae.graphs.normalisation import NODE_FEATURES, NormalisationAccumulator
from gvae.graphs.shards import FORMAT_VERSION, METADATA_FILE, SPLITS, ShardWriter, write_metadata
from gvae.jets import HitBatch

log = logging.getLogger(__name__)

BUILDERS: tuple[str, ...] = ("auto", "python", "cpp")


def parse_split(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` -> fractions of train, val, test (non-negative, summing to 1)."""
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"--split must be three comma-separated numbers, got {text!r}") from exc
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
        raise ConfigError(f"--split must be three non-negative fractions summing to 1, got {text!r}")
    return parts  # type: ignore[return-value]


def assign_splits(n_jets: int, fractions: tuple[float, float, float], seed: int) -> np.ndarray:
    """Split index (0 train, 1 val, 2 test) of each row: a seeded permutation cut by the fractions."""
    perm = np.random.default_rng(seed).permutation(n_jets)
    n_train = int(round(fractions[0] * n_jets))
    n_val = min(int(round(fractions[1] * n_jets)), n_jets - n_train)
    split = np.full(n_jets, 2, dtype=np.int8)
    split[perm[:n_train]] = 0
    split[perm[n_train:n_train + n_val]] = 1
    return split


def resolve_builder(builder: str) -> str:
    """``auto`` -> ``cpp`` when the native module is built, else ``python``."""
    if builder not in BUILDERS:
        raise ConfigError(f"unknown builder {builder!r}; expected one of {BUILDERS}")
    if builder == "python":
        return builder
    try:
        from gvae import _core
        has = hasattr(_core, "build_graphs")
    except ImportError:
        has = False
    if builder == "cpp" and not has:
        raise ConfigError("--builder cpp needs the native module gvae._core with build_graphs (run `make build`)")
    return "cpp" if has else "python"


def _graphs_of_hits(hits: HitBatch, k: int, max_nodes: int, builder: str) -> dict[str, np.ndarray]:
    """Graphs of one chunk of hits, built from the hits themselves (no image in between)."""
    if builder == "cpp":
        from gvae import _core
        return _core.build_graphs_from_hits(hits.offsets, *(np.asarray(a).astype(np.int64)
                                                            for a in (hits.channel, hits.ieta, hits.iphi)),
                                            np.asarray(hits.energy, np.float32), k, max_nodes,
                                            first_jet=hits.first_row)
    return stack_graphs((build_graph(hits.jet_hits(b), k, max_nodes, hits.first_row + b) for b in range(len(hits))),
                        k, max_nodes)


def graphs_of_rows(path: str, start: int, stop: int, k: int, max_nodes: int, builder: str) -> dict[str, np.ndarray]:
    """Graph arrays (shard keys plus n_hits etc.) for rows ``start:stop`` of ``path``.

    Hit files (``.gvh``, ``.root``) give their hits straight to the builder; image files give images.
    """
    parts = []
    if io.stores_hits(path):
        chunks: Iterator[Any] = io.iter_hits(path, chunk_size=max(stop - start, 1), start=start, stop=stop)
    else:
        chunks = io.iter_jets(path, chunk_size=max(stop - start, 1), start=start, stop=stop)
    for batch in chunks:
        if isinstance(batch, HitBatch):
            g = _graphs_of_hits(batch, k, max_nodes, builder)
            scalars = batch.scalars
        elif builder == "cpp":
            from gvae import _core
            g = _core.build_graphs(batch.images, k, max_nodes, first_jet=batch.first_row)
            scalars = batch.scalars()
        else:
            g = build_graphs(batch.images, k, max_nodes, first_jet=batch.first_row)
            scalars = batch.scalars()
        g["neighbours"] = g["neighbours"].astype(np.int16)
        del g["pixels"]
        g.update(pt=scalars["pt"], m0=scalars["m0"], y=scalars["y"],
                 row=np.arange(batch.first_row, batch.first_row + len(batch), dtype=np.int64))
        parts.append(g)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _task(args: tuple[str, int, int, int, int, str]) -> dict[str, np.ndarray]:
    return graphs_of_rows(*args)


@dataclass
class TruncationStats:
    """Running truncation statistics over all converted jets."""

    max_nodes: int
    jets: int = 0
    truncated: int = 0
    dropped_sum: float = 0.0
    dropped_max: float = 0.0
    n_hits_sum: int = 0
    n_hits_max: int = 0
    n_nodes_sum: int = 0
    per_split: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SPLITS})

    def add(self, g: dict[str, np.ndarray], split: np.ndarray) -> None:
        self.jets += len(g["n_hits"])
        truncated = g["n_hits"] > self.max_nodes
        self.truncated += int(truncated.sum())
        for i, s in enumerate(SPLITS):
            self.per_split[s] += int((truncated & (split == i)).sum())
        self.dropped_sum += float(g["dropped_energy_fraction"].sum())
        self.dropped_max = max(self.dropped_max, float(g["dropped_energy_fraction"].max(initial=0.0)))
        self.n_hits_sum += int(g["n_hits"].sum())
        self.n_hits_max = max(self.n_hits_max, int(g["n_hits"].max(initial=0)))
        self.n_nodes_sum += int(g["n_nodes"].sum())

    def to_dict(self) -> dict[str, Any]:
        n = max(self.jets, 1)
        return {
            "max_nodes": self.max_nodes,
            "jets": self.jets,
            "jets_truncated": self.truncated,
            "fraction_truncated": self.truncated / n,
            "jets_truncated_per_split": dict(self.per_split),
            "dropped_energy_fraction_mean": self.dropped_sum / n,
            "dropped_energy_fraction_mean_truncated": self.dropped_sum / self.truncated if self.truncated else 0.0,
            "dropped_energy_fraction_max": self.dropped_max,
            "nodes_before_truncation_mean": self.n_hits_sum / n,
            "nodes_before_truncation_max": self.n_hits_max,
            "nodes_mean": self.n_nodes_sum / n,
        }

    def log(self) -> None:
        d = self.to_dict()
        message = (f"truncation at max_nodes={self.max_nodes}: {self.truncated}/{self.jets} jets "
                   f"({100 * d['fraction_truncated']:.2f}%) had more nodes; dropped energy fraction "
                   f"mean {d['dropped_energy_fraction_mean']:.3g} over all jets "
                   f"({d['dropped_energy_fraction_mean_truncated']:.3g} over truncated jets), max "
                   f"{self.dropped_max:.3g}; nodes per jet before truncation mean "
                   f"{d['nodes_before_truncation_mean']:.1f}, max {self.n_hits_max}")
        (log.warning if self.truncated else log.info)(message)


def _blocks(n_jets: int, start: int, block: int) -> list[tuple[int, int]]:
    return [(a, min(a + block, start + n_jets)) for a in range(start, start + n_jets, block)]


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    existing = [out_dir / METADATA_FILE] + [p for s in SPLITS for p in (out_dir / s).glob("shard-*.pt")]
    existing = [p for p in existing if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{out_dir} already holds a converted dataset; pass --overwrite to replace it")
    for p in existing:
        p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def convert(in_path: str | os.PathLike, out_dir: str | os.PathLike, k: int = 8, max_nodes: int = 400,
            split: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0, shard_size: int = 1024,
            workers: int = 1, builder: str = "auto", block_size: int = 256, overwrite: bool = False,
            progress: bool = True) -> dict[str, Any]:
    """Convert a jet file into graph shards; returns the metadata written to ``dataset.json``."""
    check_config(k, max_nodes)
    if shard_size < 1 or block_size < 1 or workers < 1:
        raise ConfigError("shard_size, block_size and workers must be >= 1")
    in_path = os.fspath(in_path)
    out_dir = Path(out_dir)
    impl = resolve_builder(builder)
    n_jets = io.count_jets(in_path)
    if n_jets == 0:
        raise ConfigError(f"{in_path} holds no jets")
    split_of = assign_splits(n_jets, split, seed)
    _prepare_out_dir(out_dir, overwrite)
    log.info("converting %d jets of %s -> %s (k=%d, max_nodes=%d, %s builder, %d worker(s))",
             n_jets, in_path, out_dir, k, max_nodes, impl, workers)

    writers = {s: ShardWriter(out_dir / s, shard_size, k, max_nodes) for s in SPLITS}
    norm = NormalisationAccumulator()
    trunc = TruncationStats(max_nodes)
    tasks = [(in_path, a, b, k, max_nodes, impl) for a, b in _blocks(n_jets, 0, block_size)]
    bar = tqdm(total=n_jets, unit="jet", desc="graphs", disable=not progress)
    pool = mp.get_context("spawn").Pool(workers) if workers > 1 and len(tasks) > 1 else None
    try:
        results: Iterator[dict[str, np.ndarray]] = (pool.imap(_task, tasks) if pool is not None
                                                    else map(_task, tasks))
        for g in results:
            rows_split = split_of[g["row"]]
            trunc.add(g, rows_split)
            for i, s in enumerate(SPLITS):
                sel = rows_split == i
                if sel.any():
                    part = {key: v[sel] for key, v in g.items()}
                    writers[s].add(part)
                    if s == "train":
                        norm.add(part["features"], part["mask"])
            bar.update(len(g["row"]))
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    for w in writers.values():
        w.close()

    normalisation = norm.result()
    trunc.log()
    metadata = {
        "format_version": FORMAT_VERSION,
        "gvae_version": gvae.__version__,
        "builder": BUILDER_NAME,
        "source": {"path": in_path, "format": io.detect_format(in_path), "n_jets": n_jets},
        "seed": seed,
        "k": k,
        "max_nodes": max_nodes,
        "features": list(FEATURES),
        "node_features": list(NODE_FEATURES),
        "split_fractions": dict(zip(SPLITS, split)),
        "shard_size": shard_size,
        "splits": {s: {"count": w.count, "shards": w.shards,
                       "shard_counts": [min(shard_size, w.count - i * shard_size) for i in range(len(w.shards))]}
                   for s, w in writers.items()},
        "normalisation": normalisation.to_dict(),
        "geometry": geometry.as_dict(),
        "truncation": trunc.to_dict(),
    }
    path = write_metadata(out_dir, metadata)
    log.info("wrote %s: train %d, val %d, test %d jets", path, *(writers[s].count for s in SPLITS))
    return metadata
