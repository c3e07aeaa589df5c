"""C++ gvae::GraphBuilder (through gvae._core) against the Python builder: identical arrays."""
from __future__ import annotations

import numpy as np
import pytest

from gvae import _core
from gvae.errors import InvalidInput
from gvae.graphs.build import build_graph, build_graphs, hits_from_image

KEYS = ("features", "pixels", "neighbours", "mask", "n_nodes", "n_hits", "total_energy", "dropped_energy_fraction")


def assert_identical(py: dict, cpp: dict) -> None:
    for key in KEYS:
        a, b = np.asarray(py[key]), np.asarray(cpp[key])
        assert a.dtype == b.dtype, key
        assert a.shape == b.shape, key
        np.testing.assert_array_equal(a, b, err_msg=key)


@pytest.mark.parametrize("k,max_nodes", [(8, 400), (4, 120), (16, 768)])
def test_images_identical_on_generated_jets(generated_jets, k, max_nodes):
    images = generated_jets.images[:40]
    py = build_graphs(images, k, max_nodes)
    assert_identical(py, _core.build_graphs(images, k, max_nodes))
    assert_identical(py, _core.build_graphs(images, k, max_nodes, threads=2))


def test_hit_lists_identical(generated_jets):
    hits = [hits_from_image(img) for img in generated_jets.images[40:60]]
    rng = np.random.default_rng(5)
    order = [rng.permutation(len(h)) for h in hits]  # any hit order gives the same graph
    offsets = np.concatenate([[0], np.cumsum([len(h) for h in hits])])
    cat = {f: np.concatenate([getattr(h, f)[o] for h, o in zip(hits, order)]) for f in ("channel", "ieta", "iphi", "energy")}
    cpp = _core.build_graphs_from_hits(offsets, cat["channel"], cat["ieta"], cat["iphi"], cat["energy"], 8, 400)
    py = build_graphs(generated_jets.images[40:60], 8, 400)
    for key in KEYS[:-2]:
        np.testing.assert_array_equal(py[key], cpp[key], err_msg=key)
    np.testing.assert_allclose(py["total_energy"], cpp["total_energy"], rtol=1e-12)
    single = _core.build_graph(hits[0].channel, hits[0].ieta, hits[0].iphi, hits[0].energy, 8, 400, jet=40)
    ref = build_graph(hits[0], 8, 400)
    assert_identical({key: getattr(ref, key) for key in KEYS}, {key: np.asarray(v) for key, v in single.items()})


def test_synthetic_towers_ties_and_truncation_identical():
    rng = np.random.default_rng(2)
    for trial in range(20):
        image = np.zeros((3, 125, 125), np.float32)
        n = int(rng.integers(0, 300))
        c, i, j = rng.integers(0, 3, n), rng.integers(55, 70, n), rng.integers(55, 70, n)  # dense: ties
        e = rng.choice(np.array([0.5, 1.0, 2.0], np.float32), n)  # equal energies: ordering ties
        image[c, i, j] = e
        image[2] = np.kron(image[2].reshape(25, 5, 25, 5).sum(axis=(1, 3)) / np.float32(25),
                           np.ones((5, 5), np.float32))
        k, max_nodes = int(rng.integers(1, 12)), int(rng.integers(1, 200))
        assert_identical(build_graphs(image[None], k, max_nodes), _core.build_graphs(image[None], k, max_nodes))


def test_sparse_hits_and_image_edges_identical():
    """Few nodes spread over the whole image, on its edges and corners: the C++ cell search must
    widen to distant cells, clip at the image border and tie-break as the Python brute force."""
    rng = np.random.default_rng(3)
    corners = np.array([0, 1, 62, 123, 124])
    for trial in range(30):
        image = np.zeros((3, 125, 125), np.float32)
        n = int(rng.integers(1, 40))
        c = rng.integers(0, 2, n)
        i = np.where(rng.random(n) < 0.5, rng.choice(corners, n), rng.integers(0, 125, n))
        j = np.where(rng.random(n) < 0.5, rng.choice(corners, n), rng.integers(0, 125, n))
        image[c, i, j] = rng.choice(np.array([0.5, 1.0, 3.0], np.float32), n)
        k = int(rng.integers(1, 12))
        assert_identical(build_graphs(image[None], k, 64), _core.build_graphs(image[None], k, 64))


@pytest.mark.parametrize("field,hit", [("channel", (5, 1, 1, 1.0)), ("ieta", (0, -3, 1, 1.0)),
                                       ("iphi", (0, 1, 125, 1.0)), ("energy", (0, 1, 1, float("nan"))),
                                       ("energy", (0, 1, 1, -2.0))])
def test_errors_translated_with_jet_and_field(field, hit):
    arrays = [np.array([good, bad]) for good, bad in zip((0, 2, 2, 1.0), hit)]
    with pytest.raises(InvalidInput) as err:
        _core.build_graph(*arrays, 8, 400, jet=9)
    assert "jet 9" in str(err.value) and f"'{field}'" in str(err.value) and "hit 1" in str(err.value)
    image = np.zeros((2, 3, 125, 125), np.float32)
    image[1, 0, 3, 3] = np.inf
    with pytest.raises(InvalidInput, match="jet 101"):
        _core.build_graphs(image, 8, 400, first_jet=100, threads=2)
    with pytest.raises(InvalidInput, match="k"):
        _core.build_graphs(image[:0], 0, 400)
