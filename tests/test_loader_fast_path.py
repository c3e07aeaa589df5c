"""The training loader's batch fetch (``TrainingJets.__getitems__``) equals the per-jet path."""
from __future__ import annotations

import pytest
import torch

from gvae.train.data import StackedJets, TrainingJets, make_loader, open_split


def test_stacked_batches_equal_the_per_jet_collate(synthetic_graphs) -> None:
    shards = open_split(str(synthetic_graphs), "train")
    fast = make_loader(shards, 8, 0, 1, True, 3, (6, 4))
    slow = make_loader(shards, 8, 0, 1, True, 3, (6, 4))
    slow.loader.dataset._inputs = None  # force the per-jet dicts + collate + normalisation
    assert isinstance(fast.loader.dataset.__getitems__([0, 1]), StackedJets)
    assert isinstance(slow.loader.dataset.__getitems__([0, 1]), list)
    n = 0
    for a, b in zip(fast.epoch(2), slow.epoch(2)):
        for name in ("features", "neighbours", "mask", "noise", "index"):
            ta, tb = getattr(a, name), getattr(b, name)
            assert ta.dtype == tb.dtype and torch.equal(ta, tb), name
        n += 1
    assert n == len(fast) > 1


def test_limit_and_range_are_respected(synthetic_graphs) -> None:
    shards = open_split(str(synthetic_graphs), "train")
    jets = TrainingJets(shards, limit=10)
    assert len(jets) == 10 and jets._inputs is not None and len(jets._inputs[0]) == 10
    with pytest.raises(IndexError):
        jets.__getitems__([3, 10])
