"""Data loading for training: rank sharding of the graph shards, seeded order and latent noise.

Every rank reads its own part of each global batch (:class:`gvae.graphs.loader.RankBatchSampler`,
the DataLoader of :func:`gvae.graphs.loader.graph_loader` over :class:`TrainingJets`, which fetches
a preloaded split's normalised inputs one batch at a time); batches are collated and normalised
(``GraphShards.model_inputs``) inside the DataLoader (worker processes when ``data.num_workers > 0``). The latent noise of a
jet depends only on (seed, epoch, jet index), so a distributed run and a single-process run
over the same global batches draw identical noise, and a resumed run the same as an
uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass
import torch
from torch.utils.data import DataLoader

from gvae.errors import ConfigError
from gvae.graphs.loader import IndexedJets, RankBatchSampler, graph_loader  # noqa: F401 (re-exported; moved)
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.shards import GraphShards, collate, model_inputs


@dataclass
class Batch:
    """One collated batch ready for the model.

    features ``[B, N, 6]`` f32, neighbours ``[B, N, k]`` i64, mask ``[B, N]`` bool,
    noise ``[B, C, L]`` f32 (standard normal, or zeros for evaluation), index ``[B]`` i64
    (jet indices within the split).
    """

    features: torch.Tensor
    neighbours: torch.Tensor
    mask: torch.Tensor
    noise: torch.Tensor
    index: torch.Tensor

    def to(self, device: torch.device) -> "Batch":
        """Move every tensor to ``device`` (non-blocking)."""
        return Batch(*(t.to(device, non_blocking=True) for t in
                       (self.features, self.neighbours, self.mask, self.noise, self.index)))

    def __len__(self) -> int:
        return int(self.features.shape[0])


@dataclass
class StackedJets:
    """A batch fetched in one go (:meth:`TrainingJets.__getitems__`): jet indices ``[B]`` and the
    model inputs ``features [B, N, 6]`` f32 (normalised), ``neighbours [B, N, k]`` i64,
    ``mask [B, N]`` bool."""

    index: torch.Tensor
    features: torch.Tensor
    neighbours: torch.Tensor
    mask: torch.Tensor


class TrainingJets(IndexedJets):
    """:class:`IndexedJets` with the training fast path.

    With preloaded shards the normalised model inputs of the whole split are computed once (in
    chunks, with the same float64 arithmetic as per batch) and the DataLoader fetches a batch
    with one index per tensor (``__getitems__``) instead of one dict per jet plus stacks and a
    normalisation per batch; the values are identical. Costs the normalised features of the
    split in memory (``[n, N, 6]`` f32).
    """

    def __init__(self, shards: GraphShards, limit: int | None = None, chunk: int = 1024) -> None:
        super().__init__(shards, limit)
        self._inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        arrays = getattr(shards, "_all", None)  # set when the split is preloaded
        if arrays is not None and self.n > 0:
            parts = [model_inputs({k: arrays[k][a:min(a + chunk, self.n)] for k in ("features", "neighbours", "mask")},
                                  shards.normalisation) for a in range(0, self.n, chunk)]
            self._inputs = (torch.cat([p[0] for p in parts]), arrays["neighbours"][:self.n],
                            torch.cat([p[2] for p in parts]))

    def __getitems__(self, indices: list[int]) -> StackedJets | list[tuple[int, dict[str, torch.Tensor]]]:
        """A whole batch (DataLoader fetcher hook): :class:`StackedJets` on the fast path."""
        if self._inputs is None:
            return [self[i] for i in indices]
        for i in indices:
            if not 0 <= i < self.n:
                raise IndexError(f"jet {i} out of range for a split of {self.n} jets")
        index = torch.as_tensor(indices, dtype=torch.int64)
        features, neighbours, mask = self._inputs
        return StackedJets(index, features[index], neighbours[index].to(torch.int64), mask[index])


def jet_noise(index: torch.Tensor, epoch: int, seed: int, shape: tuple[int, int]) -> torch.Tensor:
    """Standard normal latent noise ``[B, C, L]`` for jets ``index [B]``, a pure function of
    (seed, epoch, jet index)."""
    g = torch.Generator()
    out = torch.empty((len(index), *shape))
    for row, i in enumerate(index.tolist()):
        g.manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + i)
        out[row] = torch.randn(shape, generator=g)
    return out


class CollateBatch:
    """Picklable collate function: jets -> :class:`Batch` (normalised inputs + noise)."""

    def __init__(self, normalisation: Normalisation, latent_shape: tuple[int, int], seed: int,
                 sample_noise: bool) -> None:
        self.normalisation, self.latent_shape = normalisation, latent_shape
        self.seed, self.sample_noise, self.epoch = seed, sample_noise, 0

    def __call__(self, items: StackedJets | list[tuple[int, dict[str, torch.Tensor]]]) -> Batch:
        if isinstance(items, StackedJets):
            index, features, neighbours, mask = items.index, items.features, items.neighbours, items.mask
        else:
            index = torch.tensor([i for i, _ in items], dtype=torch.int64)
            features, neighbours, mask = model_inputs(collate([jet for _, jet in items]),
                                                      self.normalisation)
        if self.sample_noise:
            noise = jet_noise(index, self.epoch, self.seed, self.latent_shape)
        else:
            noise = torch.zeros((len(index), *self.latent_shape))
        return Batch(features, neighbours, mask, noise, index)


@dataclass
class SplitLoader:
    """A DataLoader with its sampler and collate function (both told the epoch)."""

    loader: DataLoader
    sampler: RankBatchSampler
    collate: CollateBatch

    def epoch(self, epoch: int) -> DataLoader:
        """Iterate the batches of ``epoch``."""
        self.sampler.set_epoch(epoch)
        self.collate.epoch = epoch
        return self.loader

    def __len__(self) -> int:
        return len(self.sampler)


def make_loader(shards: GraphShards, batch_size: int, rank: int, world_size: int, train: bool,
                seed: int, latent_shape: tuple[int, int], num_workers: int = 0,
                limit: int | None = None) -> SplitLoader:
    """Loader over one split for one rank (training: shuffled, dropped tail, sampled noise;
    evaluation: in order, zero noise)."""
    collate_fn = CollateBatch(shards.normalisation, latent_shape, seed, sample_noise=train)
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    jets = TrainingJets(shards, limit)  # graph_loader's DataLoader with the batch-fetch fast path
    sampler = RankBatchSampler(len(jets), batch_size, rank, world_size, shuffle=train, seed=seed)
    loader = DataLoader(jets, batch_sampler=sampler, collate_fn=collate_fn, num_workers=num_workers,
                        persistent_workers=False, multiprocessing_context="fork" if num_workers > 0 else None)
    return SplitLoader(loader, sampler, collate_fn)


def open_split(data_dir: str, split: str) -> GraphShards:
    """Open a split of a converted directory (preloaded)."""
    return GraphShards(data_dir, split, preload=True)


