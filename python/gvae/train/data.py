"""Data loading for training: rank sharding of the graph shards, seeded order and latent noise.

Every rank reads its own part of each global batch (:class:`gvae.graphs.loader.RankBatchSampler`,
through :func:`gvae.graphs.loader.graph_loader`); batches are collated and normalised (``GraphShards.model_inputs``)
inside the DataLoader (worker processes when ``data.num_workers > 0``). The latent noise of a
jet depends only on (seed, epoch, jet index), so a distributed run and a single-process run
over the same global batches draw identical noise, and a resumed run the same as an
uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass
import torch
from torch.utils.data import DataLoader

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

    def __call__(self, items: list[tuple[int, dict[str, torch.Tensor]]]) -> Batch:
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
    loader = graph_loader(shards, batch_size, limit=limit, rank=rank, world_size=world_size, shuffle=train,
                          seed=seed, collate_fn=collate_fn, num_workers=num_workers)
    return SplitLoader(loader, loader.batch_sampler, collate_fn)  # type: ignore[arg-type]


def open_split(data_dir: str, split: str) -> GraphShards:
    """Open a split of a converted directory (preloaded)."""
    return GraphShards(data_dir, split, preload=True)


