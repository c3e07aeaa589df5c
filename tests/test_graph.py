"""Graph builder properties (docs/DESIGN.md section 4), Python implementation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gvae import geometry
from gvae.errors import ConfigError, InvalidInput
from gvae.graphs.build import Hits, build_graph, build_graphs, hits_from_image, knn


def brute_force_knn(pixels: np.ndarray, k: int) -> np.ndarray:
    """Reference kNN: sort every other node by (squared pixel distance, index); fill with self."""
    n = len(pixels)
    out = np.empty((n, k), dtype=np.int64)
    p = pixels.astype(np.int64)
    for i in range(n):
        d2 = ((p - p[i]) ** 2).sum(axis=1)
        others = [j for j in np.lexsort((np.arange(n), d2)) if j != i][:k]
        out[i] = others + [i] * (k - len(others))
    return out


def tower_image(rng: np.random.Generator, occupancy: float = 0.05) -> np.ndarray:
    """A synthetic end-to-end image: random track/ECAL pixels, HCAL towers as 5x5 blocks of E/25."""
    image = np.zeros((3, 125, 125), np.float32)
    for c in (0, 1):
        hit = rng.random((125, 125)) < occupancy
        image[c][hit] = rng.exponential(2.0, hit.sum()).astype(np.float32)
    towers = (rng.exponential(10.0, (25, 25)) * (rng.random((25, 25)) < 0.2)).astype(np.float32)
    image[2] = np.kron(towers / np.float32(25), np.ones((5, 5), np.float32))
    return image


def test_knn_matches_brute_force_on_generated_jets(generated_jets):
    for j in (0, 1, 7):
        for k in (1, 8, 13):
            g = build_graph(generated_jets.images[j], k=k, max_nodes=400, jet=j)
            n = g.n_nodes
            assert n > k
            np.testing.assert_array_equal(g.neighbours[:n], brute_force_knn(g.pixels[:n], k))


def test_knn_ties_self_fill_and_duplicates():
    # Four nodes at distance 1 from the origin plus one on top of it: ties go by index.
    ieta = np.array([50, 51, 49, 50, 50, 50])
    iphi = np.array([50, 50, 50, 51, 49, 50])
    nb = knn(ieta, iphi, 3)
    assert nb[0].tolist() == [5, 1, 2]  # node 5 shares the pixel (d2 = 0)
    assert nb[1].tolist() == [0, 5, 3]  # d2: 0->1, 5->1, 3->2, 4->2
    np.testing.assert_array_equal(nb, brute_force_knn(np.stack([ieta, iphi], 1), 3))
    # Fewer than k other nodes: missing slots hold the node's own index.
    assert knn(np.array([3, 9]), np.array([3, 9]), 4).tolist() == [[1, 0, 0, 0], [0, 1, 1, 1]]
    assert knn(np.array([3]), np.array([3]), 2).tolist() == [[0, 0]]
    rng = np.random.default_rng(3)
    for k in (1, 5, 12):  # dense random nodes: many ties
        p = rng.integers(40, 50, (60, 2))
        np.testing.assert_array_equal(knn(p[:, 0], p[:, 1], k), brute_force_knn(p, k))


def test_mask_padding_and_dtypes():
    hits = Hits(np.array([1, 0, 2]), np.array([10, 20, 31]), np.array([10, 20, 33]),
                np.array([1.0, 2.0, 3.0], np.float32))
    g = build_graph(hits, k=4, max_nodes=6)
    assert g.features.dtype == np.float32 and g.features.shape == (6, 4)
    assert g.pixels.dtype == np.int32 and g.pixels.shape == (6, 2)
    assert g.neighbours.dtype == np.int64 and g.neighbours.shape == (6, 4)
    assert g.mask.dtype == np.bool_ and g.mask.tolist() == [True] * 3 + [False] * 3
    assert (g.features[3:] == 0).all() and (g.pixels[3:] == 0).all()
    assert (g.neighbours[3:] == np.arange(3, 6)[:, None]).all()
    assert (g.neighbours[:3] < 3).all()
    # HCAL hit (31, 33) -> tower (6, 6) -> centre pixel (32, 32); highest energy first.
    assert g.pixels[0].tolist() == [32, 32] and g.features[0, 3] == 2
    assert g.features[0, 0] == np.float32((32 - 62) * 0.0174)
    assert g.features[:3, 2].tolist() == [3.0, 2.0, 1.0]
    empty = build_graph(np.zeros((3, 125, 125), np.float32), k=2, max_nodes=3)
    assert empty.n_nodes == empty.n_hits == 0 and not empty.mask.any()
    assert empty.total_energy == 0.0 and empty.dropped_energy_fraction == 0.0
    assert empty.neighbours.tolist() == [[0, 0], [1, 1], [2, 2]]


def test_ordering_energy_then_channel_ieta_iphi():
    hits = Hits(np.array([1, 0, 0, 1, 0, 2]), np.array([5, 7, 6, 3, 6, 0]), np.array([5, 7, 9, 3, 8, 0]),
                np.array([1, 1, 1, 0, 4, 1], np.float32))
    g = build_graph(hits, k=2, max_nodes=8)
    nodes = [(int(g.features[i, 3]), *g.pixels[i].tolist()) for i in range(g.n_nodes)]
    # Zero-energy hit dropped; 4 GeV first; then the 1 GeV ties by channel, ieta, iphi.
    assert nodes == [(0, 6, 8), (0, 6, 9), (0, 7, 7), (1, 5, 5), (2, 2, 2)]


def test_tower_collapse_preserves_total_energy_exactly():
    rng = np.random.default_rng(11)
    image = tower_image(rng)
    g = build_graph(image, k=8, max_nodes=2000)
    assert g.dropped_energy_fraction == 0.0
    # One node per nonzero tower, at the tower centre pixel.
    hcal = g.features[: g.n_nodes, 3] == geometry.HCAL
    towers = image[2].reshape(25, 5, 25, 5).sum(axis=(1, 3))
    assert hcal.sum() == np.count_nonzero(towers)
    assert ((g.pixels[: g.n_nodes][hcal] % 5) == 2).all()
    # Node energy = float32 of the float64 sum of its 25 pixels, total = exact pixel sum.
    pix = g.pixels[: g.n_nodes][hcal] // 5
    expected = image[2].astype(np.float64).reshape(25, 5, 25, 5).sum(axis=(1, 3))[pix[:, 0], pix[:, 1]]
    np.testing.assert_array_equal(g.features[: g.n_nodes][hcal, 2], expected.astype(np.float32))
    assert g.total_energy == math.fsum(image.astype(np.float64).ravel())
    # The same towers given as one hit each (the .gvh convention, any pixel of the tower) give one
    # node per tower at the same centre pixels.
    te, tp = np.nonzero(towers)
    g2 = build_graph(Hits(np.full(len(te), 2), te * 5 + 4, tp * 5, towers[te, tp]), k=8, max_nodes=2000)
    assert g2.n_nodes == hcal.sum()
    assert sorted(map(tuple, g2.pixels[: g2.n_nodes].tolist())) == sorted(
        map(tuple, g.pixels[: g.n_nodes][hcal].tolist()))


def test_total_energy_on_generated_jets(generated_jets):
    graphs = build_graphs(generated_jets.images[:20], k=8, max_nodes=400)
    totals = np.array([math.fsum(img.astype(np.float64).ravel()) for img in generated_jets.images[:20]])
    np.testing.assert_allclose(graphs["total_energy"], totals, rtol=1e-12)
    hcal_towers = np.count_nonzero(generated_jets.images[:20, 2].reshape(20, 25, 5, 25, 5).sum(axis=(2, 4)),
                                   axis=(1, 2))
    assert (graphs["n_hits"] <= np.count_nonzero(generated_jets.images[:20, :2], axis=(1, 2, 3))
            + hcal_towers).all()


def test_truncation_keeps_highest_energy_and_accounts_dropped(generated_jets):
    full = build_graph(generated_jets.images[0], k=8, max_nodes=2000)
    assert full.n_nodes == full.n_hits > 100
    cut = build_graph(generated_jets.images[0], k=8, max_nodes=100)
    assert cut.n_nodes == 100 and cut.n_hits == full.n_hits
    np.testing.assert_array_equal(cut.features[:100], full.features[:100])
    e = full.features[: full.n_nodes, 2]
    assert cut.features[:100, 2].min() >= e[100:].max()
    dropped = e[100:].astype(np.float64).sum() / full.total_energy
    assert cut.dropped_energy_fraction == pytest.approx(dropped, rel=1e-6)
    assert cut.total_energy == full.total_energy
    np.testing.assert_array_equal(cut.neighbours[:100], brute_force_knn(cut.pixels[:100], 8))
    small = build_graph(Hits(np.zeros(4, int), np.arange(4), np.zeros(4, int),
                             np.array([1, 2, 3, 4], np.float32)), k=2, max_nodes=2)
    assert small.dropped_energy_fraction == 3 / 10 and small.n_hits == 4


def test_image_and_hits_inputs_agree(generated_jets):
    image = generated_jets.images[3]
    h = hits_from_image(image)
    assert (np.diff(h.channel * 125 * 125 + h.ieta * 125 + h.iphi) > 0).all()  # row-major
    a, b = build_graph(image, 8, 400), build_graph(h, 8, 400)
    shuffled = np.random.default_rng(0).permutation(len(h))
    c = build_graph((h.channel[shuffled], h.ieta[shuffled], h.iphi[shuffled], h.energy[shuffled]), 8, 400)
    for g in (b, c):
        for name in ("features", "pixels", "neighbours", "mask"):
            np.testing.assert_array_equal(getattr(a, name), getattr(g, name))
    # Summation order within a tower follows the input order, so shuffled totals agree to rounding.
    assert b.total_energy == a.total_energy and c.total_energy == pytest.approx(a.total_energy, rel=1e-12)


@pytest.mark.parametrize("field,hit,message", [
    ("channel", (3, 1, 1, 1.0), "channel"),
    ("channel", (-1, 1, 1, 1.0), "channel"),
    ("ieta", (0, 125, 1, 1.0), "ieta"),
    ("ieta", (0, -1, 1, 1.0), "ieta"),
    ("iphi", (0, 1, 200, 1.0), "iphi"),
    ("energy", (0, 1, 1, float("nan")), "finite"),
    ("energy", (0, 1, 1, float("inf")), "finite"),
    ("energy", (0, 1, 1, -0.25), ">= 0"),
])
def test_validation_names_jet_and_field(field, hit, message):
    hits = tuple(np.array([good, bad]) for good, bad in zip((0, 2, 2, 1.0), hit))
    with pytest.raises(InvalidInput) as err:
        build_graph(hits, 8, 400, jet=42)
    assert err.value.row == 42 and err.value.field == field
    assert "jet 42" in str(err.value) and "hit 1" in str(err.value) and message in str(err.value)


def test_image_errors_and_config():
    image = np.zeros((3, 125, 125), np.float32)
    image[1, 4, 5] = -1.0
    with pytest.raises(InvalidInput, match="jet 17"):
        build_graphs(np.stack([np.zeros_like(image), image]), first_jet=16)
    image[1, 4, 5] = np.nan
    with pytest.raises(InvalidInput) as err:
        build_graph(image, jet=3)
    assert err.value.field == "energy"
    with pytest.raises(InvalidInput, match="shape"):
        build_graph(np.zeros((3, 124, 125), np.float32))
    with pytest.raises(ConfigError):
        build_graph(np.zeros((3, 125, 125), np.float32), k=0)
    with pytest.raises(ConfigError):
        build_graph(np.zeros((3, 125, 125), np.float32), max_nodes=0)


def test_build_graphs_stacks_and_is_deterministic(generated_jets):
    a = build_graphs(generated_jets.images[:6], k=8, max_nodes=400)
    b = build_graphs(generated_jets.images[:6], k=8, max_nodes=400)
    shapes = {"features": (6, 400, 4), "pixels": (6, 400, 2), "neighbours": (6, 400, 8), "mask": (6, 400),
              "n_nodes": (6,), "n_hits": (6,), "total_energy": (6,), "dropped_energy_fraction": (6,)}
    for name, shape in shapes.items():
        assert a[name].shape == shape
        np.testing.assert_array_equal(a[name], b[name])
    single = build_graph(generated_jets.images[4], 8, 400)
    np.testing.assert_array_equal(a["neighbours"][4], single.neighbours)
    assert a["n_nodes"][4] == single.n_nodes == a["mask"][4].sum()
