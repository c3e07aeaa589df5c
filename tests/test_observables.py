"""Observables (gvae.evaluate.observables) on constructed events with known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gvae.errors import ConfigError
from gvae.jets import Hits
from gvae.evaluate.observables import (OBSERVABLES, RADIAL_EDGES, compare, jet_observables, mass_and_pt,
                                       observables_table, radial_profile)


def test_two_hits_split_in_phi() -> None:
    # Massless E at (0, +b) and (0, -b): m = 2 E sin b, pT = 2 E cos b (eta = 0 so pT = E).
    e, b = 50.0, 0.2
    hits = Hits.at(x=[0.0, 0.0], y=[b, -b], energy=[e, e], channel=[1, 2])
    m, pt = mass_and_pt(hits)
    assert m == pytest.approx(2 * e * math.sin(b), rel=1e-12)
    assert pt == pytest.approx(2 * e * math.cos(b), rel=1e-12)


def test_two_hits_split_in_eta() -> None:
    # Massless E at eta = +-a: pT = E / cosh a each, m^2 = 2 pT^2 (cosh 2a - 1) -> m = 2 E tanh a.
    e, a = 80.0, 0.15
    hits = Hits.at(x=[a, -a], y=[0.0, 0.0], energy=[e, e], channel=[1, 1])
    m, pt = mass_and_pt(hits)
    assert m == pytest.approx(2 * e * math.tanh(a), rel=1e-12)
    assert pt == pytest.approx(2 * e / math.cosh(a), rel=1e-12)


def test_mass_is_invariant_under_jet_eta_for_track_hits() -> None:
    # Track hits hold pT, so a longitudinal boost (shift of eta_jet) leaves mass and pT unchanged.
    hits = Hits.at(x=[0.1, -0.05, 0.02], y=[0.0, 0.12, -0.2], energy=[30.0, 20.0, 10.0], channel=[0, 0, 0])
    assert mass_and_pt(hits, 0.0) == pytest.approx(mass_and_pt(hits, 1.2), rel=1e-10)


def test_jet_observables_constructed_event() -> None:
    hits = Hits.at(x=[0.0, 0.0, 0.3, 0.0], y=[0.0, 0.1, 0.4, 0.0], energy=[5.0, 20.0, 0.5, 10.0],
                channel=[0, 1, 1, 2])
    obs = jet_observables(hits, threshold=1.0)
    assert set(obs) == set(OBSERVABLES)
    assert obs["energy_track"] == 5.0 and obs["energy_ecal"] == 20.5 and obs["energy_hcal"] == 10.0
    assert obs["energy_total"] == 35.5
    assert (obs["n_hits_track"], obs["n_hits_ecal"], obs["n_hits_hcal"]) == (1.0, 1.0, 1.0)
    # mean radius: (20 * 0.1 + 0.5 * 0.5) / 35.5
    assert obs["mean_radius"] == pytest.approx((2.0 + 0.25) / 35.5)
    calo = Hits.at(x=[0.0, 0.3, 0.0], y=[0.1, 0.4, 0.0], energy=[20.0, 0.5, 10.0], channel=[1, 1, 2])
    assert (obs["mass_calo"], obs["pt_calo"]) == pytest.approx(mass_and_pt(calo))


def test_radial_profile_fractions() -> None:
    hits = Hits.at(x=[0.0, 0.12, 0.0, 2.0], y=[0.01, 0.0, 0.7, 2.0], energy=[1.0, 2.0, 1.0, 4.0], channel=[1, 1, 2, 2])
    prof = radial_profile(hits)
    assert prof.shape == (len(RADIAL_EDGES) - 1,)
    expected = np.zeros(len(RADIAL_EDGES) - 1)
    expected[0], expected[2], expected[7] = 1 / 8, 2 / 8, 1 / 8  # the hit at r = 2.83 is outside
    np.testing.assert_allclose(prof, expected)
    assert radial_profile(Hits.at([], [], [], [])).sum() == 0.0


def test_empty_jet_observables_are_zero() -> None:
    obs = jet_observables(Hits.at([], [], [], []))
    assert all(v == 0.0 for v in obs.values())


def test_compare_response_and_w1() -> None:
    o = np.array([10.0, 20.0, 0.0, 40.0])
    r = np.array([11.0, 18.0, 3.0, 40.0])
    c = compare(o, r)
    assert c["n_response_undefined"] == 1
    assert c["response"]["median"] == pytest.approx(1.0)
    assert c["response"]["mean"] == pytest.approx((1.1 + 0.9 + 1.0) / 3)
    # W1 of two 4-point samples = mean |sorted difference| = (3 + 1 + 2 + 0) / 4 ... sorted: o 0,10,20,40; r 3,11,18,40
    assert c["w1"] == pytest.approx((3 + 1 + 2 + 0) / 4)
    with pytest.raises(ConfigError):
        compare(o, r[:2])


def test_observables_table_columns() -> None:
    jets = [Hits.at([0.0], [0.0], [float(e)], [1]) for e in (1, 2, 3)]
    table = observables_table(jets, threshold=1.5)
    assert list(table) == list(OBSERVABLES)
    np.testing.assert_array_equal(table["energy_ecal"], [1, 2, 3])
    np.testing.assert_array_equal(table["n_hits_ecal"], [0, 1, 1])
