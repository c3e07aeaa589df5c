"""EMD (gvae.evaluate.emd) against hand-computed values and an independent linear program."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linprog

from gvae.errors import ConfigError, InvalidInput
from gvae.evaluate.emd import DEFAULT_R, EMD_CHANNELS, batch_emds, emd, event_emds
from gvae.jets import Hits

PIX = 0.0174


def test_default_radius_is_the_jet_radius() -> None:
    assert DEFAULT_R == 0.8


def test_single_hit_moved_by_known_distance() -> None:
    # 10 GeV moved by (3, 4) pixels = 5 pixels = 0.087 in (eta, phi): 10 * 0.087 / 0.8 = 1.0875 GeV.
    d = emd([[0.0, 0.0]], [10.0], [[3 * PIX, 4 * PIX]], [10.0], R=0.8)
    assert d == pytest.approx(1.0875, rel=1e-12)
    assert emd([[0.0, 0.0]], [10.0], [[3 * PIX, 4 * PIX]], [10.0], R=0.4) == pytest.approx(2.175, rel=1e-12)


def test_energy_mismatch_same_place() -> None:
    assert emd([[0.1, -0.2]], [10.0], [[0.1, -0.2]], [7.0]) == pytest.approx(3.0, abs=1e-12)


def test_energy_mismatch_and_move() -> None:
    # 7 GeV travel 0.2, 3 GeV are destroyed: 7 * 0.2 / 0.8 + 3 = 4.75.
    assert emd([[0.0, 0.0]], [10.0], [[0.2, 0.0]], [7.0]) == pytest.approx(4.75, rel=1e-12)
    # The cheapest hits are the ones matched: 7 GeV stay at 0, the 3 GeV at 0.5 are destroyed.
    d = emd([[0.0, 0.0], [0.5, 0.0]], [7.0, 3.0], [[0.0, 0.0]], [7.0])
    assert d == pytest.approx(3.0, abs=1e-12)


def test_two_hit_permutation_is_zero_and_swap_costs_the_exchange() -> None:
    pts = [[0.0, 0.0], [0.1, 0.0]]
    assert emd(pts, [5.0, 5.0], pts[::-1], [5.0, 5.0]) == pytest.approx(0.0, abs=1e-12)
    # 4/6 vs 6/4: 2 GeV move 0.1 -> 2 * 0.1 / 0.8 = 0.25.
    assert emd(pts, [4.0, 6.0], pts, [6.0, 4.0]) == pytest.approx(0.25, rel=1e-12)


def test_empty_sides() -> None:
    none = np.zeros((0, 2))
    assert emd(none, [], none, []) == 0.0
    assert emd([[0.0, 0.0], [0.3, 0.1]], [2.0, 3.0], none, []) == pytest.approx(5.0)
    assert emd(none, [], [[0.3, 0.1]], [4.0]) == pytest.approx(4.0)
    # zero-energy hits count as absent
    assert emd([[0.0, 0.0]], [0.0], [[0.5, 0.5]], [0.0]) == 0.0


def _emd_linprog(ca: np.ndarray, ea: np.ndarray, cb: np.ndarray, eb: np.ndarray, R: float) -> float:
    """The KMT constrained problem written literally as an LP (independent of POT)."""
    n, m = len(ea), len(eb)
    theta = np.sqrt(((ca[:, None, :] - cb[None, :, :]) ** 2).sum(-1)).ravel() / R
    a_ub = np.zeros((n + m, n * m))
    for i in range(n):
        a_ub[i, i * m:(i + 1) * m] = 1.0
    for j in range(m):
        a_ub[n + j, j::m] = 1.0
    res = linprog(theta, A_ub=a_ub, b_ub=np.concatenate([ea, eb]), A_eq=np.ones((1, n * m)),
                  b_eq=[min(ea.sum(), eb.sum())], bounds=(0, None), method="highs")
    assert res.success
    return float(res.fun) + abs(ea.sum() - eb.sum())


@pytest.mark.parametrize("seed", range(6))
def test_matches_independent_linear_program(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 9, size=2)
    ca, cb = rng.normal(0, 0.3, (n, 2)), rng.normal(0, 0.3, (m, 2))
    ea, eb = rng.exponential(20.0, n), rng.exponential(20.0, m)
    assert emd(ca, ea, cb, eb, R=0.8) == pytest.approx(_emd_linprog(ca, ea, cb, eb, 0.8), rel=1e-7)


def test_symmetric_and_zero_for_identical() -> None:
    rng = np.random.default_rng(3)
    ca, cb = rng.normal(0, 0.3, (40, 2)), rng.normal(0, 0.3, (25, 2))
    ea, eb = rng.exponential(5.0, 40), rng.exponential(9.0, 25)
    assert emd(ca, ea, cb, eb) == pytest.approx(emd(cb, eb, ca, ea), rel=1e-9)
    assert emd(ca, ea, ca, ea) == pytest.approx(0.0, abs=1e-9)


def test_event_emds_per_channel_and_all() -> None:
    orig = Hits.at(x=[0.0, 0.0, 0.0], y=[0.0, 0.1, 0.2], energy=[10.0, 20.0, 30.0], channel=[0, 1, 2])
    # track: unchanged; ecal: moved 0.08 (-> 20 * 0.1 = 2); hcal: missing entirely (-> 30)
    reco = Hits.at(x=[0.0, 0.08], y=[0.0, 0.1], energy=[10.0, 20.0], channel=[0, 1])
    out = event_emds(orig, reco)
    assert out.shape == (len(EMD_CHANNELS),)
    assert out[:3] == pytest.approx([0.0, 2.0, 30.0], abs=1e-9)
    assert out[3] == pytest.approx(_emd_linprog(orig.coords, orig.energy, reco.coords, reco.energy, 0.8))


def test_batch_keeps_every_jet_and_matches_serial() -> None:
    rng = np.random.default_rng(1)

    def jet(n: int) -> Hits:
        return Hits.at(rng.normal(0, 0.2, n), rng.normal(0, 0.2, n), rng.exponential(3.0, n), rng.integers(0, 3, n))

    orig = [jet(int(n)) for n in rng.integers(0, 30, 9)]
    reco = [jet(int(n)) for n in rng.integers(0, 30, 9)]
    serial = np.stack([event_emds(o, r) for o, r in zip(orig, reco)])
    out = batch_emds(orig, reco, workers=2, chunk_size=4)
    assert out.shape == (9, 4)
    np.testing.assert_allclose(out, serial, rtol=1e-12)


def test_bad_input_is_typed() -> None:
    with pytest.raises(InvalidInput):
        emd([[0.0, 0.0]], [-1.0], [[0.0, 0.0]], [1.0])
    with pytest.raises(InvalidInput):
        emd([[math.nan, 0.0]], [1.0], [[0.0, 0.0]], [1.0])
    with pytest.raises(InvalidInput):
        emd([[0.0, 0.0], [1.0, 1.0]], [1.0], [[0.0, 0.0]], [1.0])
    with pytest.raises(ConfigError):
        emd([[0.0, 0.0]], [1.0], [[0.0, 0.0]], [1.0], R=0.0)
    with pytest.raises(InvalidInput):
        batch_emds([], [Hits.at([], [], [], [])])
