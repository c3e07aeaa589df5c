"""Hit files (.gvh, .root) go to the graph builder as hits, with no image in between.

Against the former path (hits painted into images, the builder reading the images back) every
float32 and integer array of the shards and the normalisation are bit-identical. The float64 sums
``total_energy`` and ``dropped_energy_fraction`` are not: the image path summed an HCAL tower as
25 x float32(E / 25) in float64, which differs from the stored tower energy E in the last float64
bits (it rounds back to E only in float32); the hit path uses E itself. They agree to 2**-23.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gvae import io
from gvae.data import convert as convert_module
from gvae.data.convert import convert
from gvae.data.synthetic import synthetic_jets
from gvae.errors import FormatError
from gvae.graphs.shards import SPLITS


def _shards(out: Path) -> dict[str, dict[str, np.ndarray]]:
    data = {}
    for split in SPLITS:
        for path in sorted((out / split).glob("shard-*.pt")):
            data[f"{split}/{path.name}"] = {k: v.numpy() for k, v in torch.load(path).items()}
    return data


#: float64 sums that carry the image path's E / 25 * 25 rounding (see the module docstring).
SUMS = ("total_energy", "dropped_energy_fraction")


def _assert_identical(a: Path, b: Path) -> None:
    meta_a, meta_b = (json.loads((d / "dataset.json").read_text()) for d in (a, b))
    trunc_a, trunc_b = meta_a.pop("truncation"), meta_b.pop("truncation")
    assert meta_a == meta_b  # normalisation, splits, counts: identical
    assert trunc_a.keys() == trunc_b.keys()
    for key, value in trunc_a.items():
        assert value == pytest.approx(trunc_b[key], rel=2.0 ** -23), key
    shards_a, shards_b = _shards(a), _shards(b)
    assert shards_a.keys() == shards_b.keys() and shards_a
    for name in shards_a:
        assert shards_a[name].keys() == shards_b[name].keys()
        for key, value in shards_a[name].items():
            other = shards_b[name][key]
            assert value.dtype == other.dtype and value.shape == other.shape, (name, key)
            if key in SUMS:
                np.testing.assert_allclose(value, other, rtol=2.0 ** -23, atol=0, err_msg=f"{name} {key}")
            else:
                assert value.tobytes() == other.tobytes(), (name, key)


@pytest.mark.parametrize("suffix", [".gvh", ".root"])
@pytest.mark.parametrize("builder", ["python", "cpp"])
def test_hits_path_is_bit_identical_to_the_image_path(tmp_path, monkeypatch, suffix, builder):
    if builder == "cpp":
        pytest.importorskip("gvae._core", reason="the C++ builder needs the native module (make build)")
    source = tmp_path / f"jets{suffix}"
    io.write_jets(source, synthetic_jets(24, seed=7))
    read = []
    real_iter_hits = io.iter_hits
    monkeypatch.setattr(io, "iter_hits", lambda *a, **k: read.append(a[0]) or real_iter_hits(*a, **k))
    kwargs = dict(k=4, max_nodes=200, split=(0.5, 0.25, 0.25), seed=3, shard_size=5, block_size=7,
                  builder=builder, progress=False)
    convert(source, tmp_path / "hits", **kwargs)
    assert read, "convert did not read the hit file as hits"
    # the former path: paint the hits into images and build the graphs from the images
    monkeypatch.setattr(convert_module.io, "stores_hits", lambda path: False)
    convert(source, tmp_path / "images", **kwargs)
    _assert_identical(tmp_path / "hits", tmp_path / "images")


def test_iter_hits_rejects_image_formats(tmp_path):
    path = tmp_path / "jets.h5"
    io.write_jets(path, synthetic_jets(2, seed=1))
    assert not io.stores_hits(path)
    with pytest.raises(FormatError, match="store images"):
        list(io.iter_hits(path))
