"""Feature normalisation (docs/DESIGN.md section 5): compute, apply, invert, dict round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gvae.errors import ConfigError
from gvae.graphs.build import build_graphs
from gvae.graphs.normalisation import Normalisation, NormalisationAccumulator


@pytest.fixture(scope="module")
def graphs(generated_jets):
    return build_graphs(generated_jets.images[:30], 8, 400)


def test_compute_matches_numpy_over_real_nodes(graphs):
    norm = Normalisation.compute(graphs["features"], graphs["mask"])
    nodes = graphs["features"][graphs["mask"]].astype(np.float64)
    assert norm.mean_x == pytest.approx(nodes[:, 0].mean(), abs=1e-12)
    assert norm.std_y == pytest.approx(nodes[:, 1].std(), rel=1e-9)
    assert norm.mean_u == pytest.approx(np.log(nodes[:, 2]).mean(), rel=1e-12)
    assert norm.std_u == pytest.approx(np.log(nodes[:, 2]).std(), rel=1e-9)
    # Streaming in chunks gives the same constants.
    acc = NormalisationAccumulator()
    for a in range(0, 30, 7):
        acc.add(graphs["features"][a:a + 7], graphs["mask"][a:a + 7])
    chunked = acc.result()
    for q in ("mean_x", "std_x", "mean_y", "std_y", "mean_u", "std_u"):
        assert getattr(chunked, q) == pytest.approx(getattr(norm, q), rel=1e-12, abs=1e-15)


def test_apply_layout_and_padding(graphs):
    norm = Normalisation.compute(graphs["features"], graphs["mask"])
    f6 = norm.apply(graphs["features"], graphs["mask"])
    assert f6.shape == (30, 400, 6) and f6.dtype == np.float32
    mask = graphs["mask"]
    assert (f6[~mask] == 0).all()
    real = f6[mask]
    assert abs(real[:, 0].mean()) < 1e-4 and real[:, 2].std() == pytest.approx(1.0, rel=1e-4)
    onehot = real[:, 3:]
    assert (onehot.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(onehot.argmax(axis=1), graphs["features"][mask][:, 3].astype(int))
    # torch path: identical values, float32, same device.
    t = norm.apply(torch.from_numpy(graphs["features"]), torch.from_numpy(mask))
    assert t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), f6)


def test_invert_round_trip(graphs):
    norm = Normalisation.compute(graphs["features"], graphs["mask"])
    f6 = norm.apply(graphs["features"], graphs["mask"])
    back = norm.invert(f6[..., :3], graphs["mask"])
    raw = graphs["features"][..., :3]
    np.testing.assert_allclose(back[graphs["mask"]], raw[graphs["mask"]], rtol=2e-6, atol=2e-7)
    assert (back[~graphs["mask"]] == 0).all()
    tb = norm.invert(torch.from_numpy(f6[..., :3]), torch.from_numpy(graphs["mask"]))
    np.testing.assert_allclose(tb.numpy(), back, rtol=1e-6, atol=1e-7)
    assert norm.invert(np.zeros((1, 2, 3)))[0, 0, 2] == pytest.approx(np.exp(norm.mean_u), rel=1e-6)


def test_dict_round_trip_and_errors():
    norm = Normalisation(0.1, 0.3, -0.2, 0.4, 1.5, 1.2)
    d = norm.to_dict()
    assert d == {"x": {"mean": 0.1, "std": 0.3}, "y": {"mean": -0.2, "std": 0.4},
                 "log_energy": {"mean": 1.5, "std": 1.2}}
    assert Normalisation.from_dict(d) == norm
    with pytest.raises(ConfigError):
        Normalisation.from_dict({"x": {"mean": 0.0}})
    with pytest.raises(ConfigError):
        Normalisation(0.0, 0.0, 0.0, 1.0, 0.0, 1.0)
