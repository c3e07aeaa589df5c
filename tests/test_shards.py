"""Graph shards (docs/DESIGN.md section 6): the converted fixture dataset, GraphShards, collate,
model_inputs, and errors on damaged shards."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from gvae.errors import CorruptFileError, DataError, SchemaError
from gvae.graphs.build import build_graphs
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.shards import SHARD_DTYPES, GraphShards, collate, load_shard, model_inputs, read_metadata


def test_metadata(graph_dataset):
    meta = read_metadata(graph_dataset)
    assert meta["k"] == 8 and meta["max_nodes"] == 400 and meta["builder"] == "gvae-graph-v1"
    counts = {s: meta["splits"][s]["count"] for s in ("train", "val", "test")}
    assert counts == {"train": 96, "val": 12, "test": 12}
    assert meta["splits"]["train"]["shard_counts"] == [40, 40, 16]
    t = meta["truncation"]
    assert t["jets"] == 120 and 0 <= t["jets_truncated"] <= 120
    assert 0 <= t["dropped_energy_fraction_mean"] <= t["dropped_energy_fraction_max"] < 1
    assert meta["geometry"]["pixel_size"] == 0.0174
    Normalisation.from_dict(meta["normalisation"])


def test_dataset_items_and_rows_match_the_builder(graph_dataset, generated_jets):
    rows_seen = []
    for split in ("train", "val", "test"):
        ds = GraphShards(graph_dataset, split)
        rows = ds.arrays()["row"].numpy()
        rows_seen.extend(rows.tolist())
        ref = build_graphs(generated_jets.images[rows[:5]], 8, 400)
        for i in range(5):
            jet = ds[i]
            assert set(jet) == set(SHARD_DTYPES)
            for key, dtype in SHARD_DTYPES.items():
                assert jet[key].dtype == dtype, key
            assert jet["features"].shape == (400, 4) and jet["neighbours"].shape == (400, 8)
            np.testing.assert_array_equal(jet["features"].numpy(), ref["features"][i])
            np.testing.assert_array_equal(jet["neighbours"].numpy(), ref["neighbours"][i])
            assert float(jet["pt"]) == generated_jets.pt[rows[i]] and float(jet["y"]) == generated_jets.y[rows[i]]
            assert int(jet["n_hits"]) == ref["n_hits"][i]
    assert sorted(rows_seen) == list(range(120))


def test_collate_and_model_inputs(graph_dataset):
    ds = GraphShards(graph_dataset, "train")
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(0))
    batch = next(iter(loader))
    assert batch["features"].shape == (16, 400, 4) and batch["n_nodes"].shape == (16,)
    features6, neighbours, mask = ds.model_inputs(batch)
    assert features6.shape == (16, 400, 6) and features6.dtype == torch.float32
    assert neighbours.shape == (16, 400, 8) and neighbours.dtype == torch.int64
    assert mask.shape == (16, 400) and mask.dtype == torch.bool
    assert torch.equal(mask.sum(1).to(torch.int32), batch["n_nodes"])
    assert (features6[~mask] == 0).all()
    assert ((neighbours >= 0) & (neighbours < 400)).all()
    same = model_inputs(batch, ds.normalisation)
    assert all(torch.equal(a, b) for a, b in zip(same, (features6, neighbours, mask)))
    # The training split's normalised features are centred with unit spread.
    all_inputs = ds.model_inputs(ds.arrays())[0][ds.arrays()["mask"]]
    assert all_inputs[:, :3].mean(0).abs().max() < 1e-3
    np.testing.assert_allclose(all_inputs[:, :3].std(0).numpy(), 1.0, rtol=1e-3)


def test_lazy_loading_matches_preload(graph_dataset):
    eager = GraphShards(graph_dataset, "train")
    lazy = GraphShards(graph_dataset, "train", preload=False, cache_shards=1)
    assert len(eager) == len(lazy) == 96
    for i in (0, 39, 40, 95, 3, -1):
        for key in SHARD_DTYPES:
            assert torch.equal(eager[i][key], lazy[i][key])
    with pytest.raises(IndexError):
        lazy[96]


def test_damaged_shards_raise_typed_errors(graph_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(graph_dataset, copy)
    shard = copy / "val" / "shard-00000.pt"
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="shard-00000.pt"):
        GraphShards(copy, "val")
    data = load_shard(graph_dataset / "test" / "shard-00000.pt")
    data["neighbours"] = data["neighbours"].to(torch.int64)
    torch.save(data, copy / "test" / "shard-00000.pt")
    with pytest.raises(SchemaError, match="neighbours"):
        GraphShards(copy, "test")
    meta = json.loads((copy / "dataset.json").read_text())
    meta["format_version"] = 99
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(SchemaError, match="format_version"):
        GraphShards(copy, "train")
    with pytest.raises(DataError, match="dataset.json"):
        GraphShards(tmp_path, "train")
    with pytest.raises(DataError, match="split"):
        GraphShards(graph_dataset, "nope")


def _truncation_by_hand(images: np.ndarray, max_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes per jet before truncation ``[n]`` and dropped energy fractions ``[n]`` recomputed from
    the images with numpy, independently of the graph builder (DESIGN section 4): one node per
    nonzero track pixel, per nonzero ECAL crystal and per HCAL tower with energy (float64 sum of its
    25 pixels); nodes ordered by float32 energy descending, ties by channel, ieta, iphi; the nodes
    after the first ``max_nodes`` are dropped."""
    n_hits, dropped = [], []
    for image in images:
        towers = image[2].astype(np.float64).reshape(25, 5, 25, 5).sum(axis=(1, 3))
        ti, tj = np.nonzero(towers)
        parts = [(c, *np.nonzero(image[c]), image[c][np.nonzero(image[c])].astype(np.float64)) for c in (0, 1)]
        parts.append((2, 5 * ti + 2, 5 * tj + 2, towers[ti, tj]))
        channel = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
        ieta = np.concatenate([p[1] for p in parts])
        iphi = np.concatenate([p[2] for p in parts])
        sums = np.concatenate([p[3] for p in parts])
        order = np.lexsort((iphi, ieta, channel, -sums.astype(np.float32)))
        sums = sums[order]
        n_hits.append(len(sums))
        total = float(np.cumsum(sums)[-1]) if len(sums) else 0.0
        dropped.append(float(np.cumsum(sums[max_nodes:])[-1]) / total if len(sums) > max_nodes else 0.0)
    return np.array(n_hits), np.array(dropped)


def test_truncation_statistics_are_exactly_the_jets_above_max_nodes(graph_dataset, generated_jets):
    """dataset.json's truncation block equals the statistics recomputed from the 120 fixture jets:
    counts (total and per split) and node numbers exactly, energy fractions to float64 rounding."""
    meta = read_metadata(graph_dataset)
    t, max_nodes = meta["truncation"], meta["max_nodes"]
    n_hits, dropped = _truncation_by_hand(generated_jets.images, max_nodes)
    truncated = n_hits > max_nodes
    assert truncated.any()  # 15 of the 120 jets with the pinned generator: a counter stuck at 0 fails
    assert t["max_nodes"] == max_nodes == 400 and t["jets"] == len(n_hits) == 120
    assert t["jets_truncated"] == int(truncated.sum())
    assert t["fraction_truncated"] == int(truncated.sum()) / 120
    per_split = {s: int(truncated[GraphShards(graph_dataset, s).arrays()["row"].numpy()].sum())
                 for s in ("train", "val", "test")}
    assert t["jets_truncated_per_split"] == per_split
    assert t["nodes_before_truncation_max"] == int(n_hits.max())
    assert t["nodes_before_truncation_mean"] == int(n_hits.sum()) / 120
    assert t["nodes_mean"] == int(np.minimum(n_hits, max_nodes).sum()) / 120
    assert t["dropped_energy_fraction_max"] == pytest.approx(dropped.max(), rel=1e-12, abs=0)
    assert t["dropped_energy_fraction_mean"] == pytest.approx(dropped.mean(), rel=1e-12, abs=0)
    assert (dropped[~truncated] == 0).all() and (dropped[truncated] > 0).all()
