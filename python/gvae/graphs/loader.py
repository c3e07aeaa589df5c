"""The one loader over graph shards (:class:`gvae.graphs.shards.GraphShards`): training, evaluation
and export all batch jets through :func:`graph_loader` (or :func:`model_batch` for a fixed list).

Order: training (``shuffle=True``) draws a permutation seeded by ``(seed, epoch)`` and gives each rank
its part of every global batch; evaluation and export (``shuffle=False``) read the first ``limit``
jets in shard order. Batches are ``collate``d dicts (``features [B, N, 4]``, ``neighbours [B, N, k]``,
``mask [B, N]``, scalars ``[B]``) unless a ``collate_fn`` (e.g. training's normalising one) is given.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from gvae.errors import ConfigError
from gvae.graphs.shards import GraphShards, collate


class RankBatchSampler(Sampler[list[int]]):
    """Deterministic per-rank batches of a split.

    Training (``shuffle=True``): each epoch a permutation seeded by ``(seed, epoch)`` is cut
    to a multiple of the global batch ``batch_size * world_size`` (the tail is dropped), and
    rank r takes every ``world_size``-th index starting at r (like ``DistributedSampler``).
    The union of the ranks' i-th batches is then exactly the i-th batch of one process with
    ``batch_size * world_size``. Evaluation (``shuffle=False``): the split in order, every
    ``world_size``-th index per rank, last batch possibly smaller, nothing dropped.
    """

    def __init__(self, n: int, batch_size: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, seed: int = 0) -> None:
        self.n, self.batch_size, self.rank, self.world_size = n, batch_size, rank, world_size
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        if shuffle and n < batch_size * world_size:
            raise ConfigError(f"the training split has {n} jets, fewer than one global batch "
                              f"({batch_size} x {world_size} processes)")

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def _indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.n, self.world_size))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g)
        usable = self.n // (self.batch_size * self.world_size) * self.batch_size * self.world_size
        return perm[:usable][self.rank::self.world_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        idx = self._indices()
        for start in range(0, len(idx), self.batch_size):
            yield idx[start:start + self.batch_size]

    def __len__(self) -> int:
        if self.shuffle:
            return self.n // (self.batch_size * self.world_size)
        mine = len(range(self.rank, self.n, self.world_size))
        return (mine + self.batch_size - 1) // self.batch_size


class IndexedJets(Dataset):
    """``GraphShards`` (optionally truncated to its first ``limit`` jets) yielding
    ``(index, jet)``."""

    def __init__(self, shards: GraphShards, limit: int | None = None) -> None:
        self.shards = shards
        self.n = len(shards) if limit is None else min(limit, len(shards))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[int, dict[str, torch.Tensor]]:
        return index, self.shards[index]


def collate_jets(items: list[tuple[int, dict[str, torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """``(index, jet)`` items of :class:`IndexedJets` -> one collated batch (see :func:`collate`)."""
    return collate([jet for _, jet in items])


def graph_loader(shards: GraphShards, batch_size: int, *, limit: int | None = None, rank: int = 0,
                 world_size: int = 1, shuffle: bool = False, seed: int = 0,
                 collate_fn: Callable[[list[tuple[int, dict[str, torch.Tensor]]]], Any] = collate_jets,
                 num_workers: int = 0) -> DataLoader:
    """A DataLoader over the first ``limit`` jets of ``shards`` (all when None), batched by a
    :class:`RankBatchSampler` (its ``batch_sampler``); items reach ``collate_fn`` as ``(index, jet)``."""
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    jets = IndexedJets(shards, limit)
    sampler = RankBatchSampler(len(jets), batch_size, rank, world_size, shuffle=shuffle, seed=seed)
    return DataLoader(jets, batch_sampler=sampler, collate_fn=collate_fn, num_workers=num_workers,
                      persistent_workers=False, multiprocessing_context="fork" if num_workers > 0 else None)


def model_batch(shards: GraphShards, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Jets ``indices`` of ``shards`` as model inputs with the saved normalisation:
    ``(features6 f32 [B, N, 6], neighbours i64 [B, N, k], mask bool [B, N])``."""
    return shards.model_inputs(collate([shards[int(i)] for i in indices]))


__all__ = ["IndexedJets", "RankBatchSampler", "collate_jets", "graph_loader", "model_batch"]
