"""pytest fixtures: graphs stage.

* ``graph_dataset``: a directory written by ``gvae.data.convert`` from the 120 ``generated_jets``
  (parquet file of ``generated_file_factory``) with ``GRAPH_K`` = 8, ``GRAPH_MAX_NODES`` = 400, split
  0.8/0.1/0.1 (96/12/12 jets), seed ``GRAPH_SEED``, shards of ``GRAPH_SHARD_SIZE`` = 40 jets (train has
  three shards). Holds ``dataset.json`` and ``{train,val,test}/shard-NNNNN.pt``; read it with
  ``gvae.graphs.shards.GraphShards(graph_dataset, split)``. Treat it as read-only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from fixtures_shared import built_once

__all__ = ["GRAPH_K", "GRAPH_MAX_NODES", "GRAPH_SEED", "GRAPH_SHARD_SIZE", "graph_dataset"]

GRAPH_K = 8
GRAPH_MAX_NODES = 400
GRAPH_SEED = 7
GRAPH_SHARD_SIZE = 40


@pytest.fixture(scope="session")
def graph_dataset(generated_file_factory: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted graph shards of the 120 generated jets (see the module docstring)."""
    from gvae.data.convert import convert

    def build(out: Path) -> Path:
        convert(generated_file_factory(".parquet"), out, k=GRAPH_K, max_nodes=GRAPH_MAX_NODES, split=(0.8, 0.1, 0.1),
                seed=GRAPH_SEED, shard_size=GRAPH_SHARD_SIZE, workers=1, builder="auto", progress=False)
        return out

    return built_once(tmp_path_factory, "graph-dataset", build)
