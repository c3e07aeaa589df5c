"""The CMS-like detector response on synthetic particles (no Pythia needed)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gvae import geometry
from gvae.data.detector import DetectorConfig, Particles, bend_to_ecal, simulate
from gvae.jets import towers_to_pixels
from gvae.errors import ConfigError, InvalidInput

#: The default detector without electronics noise (empty channels are exactly empty) and with the
#: window on the particle axis (single-particle tests isolate the response from the re-centring).
QUIET = DetectorConfig(ecal_noise_3x3=0.0, hcal_tower_noise=0.0, centre_on_hcal=False)
TRACK, ECAL, HCAL = geometry.TRACK, geometry.ECAL, geometry.HCAL


def one(pid: int, pt: float, deta: float = 0.0, dphi: float = 0.0, charge: float = 0.0,
        energy: float | None = None) -> Particles:
    """A single particle at (deta, dphi) from the jet axis (energy = pT, i.e. at eta 0, unless given)."""
    return Particles(deta=[deta], dphi=[dphi], pt=[pt], energy=[pt if energy is None else energy],
                     pid=[pid], charge=[charge])


def pixel(offset: float) -> int:
    return int(math.floor(offset / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5))


def test_image_shape_dtype_and_channels():
    image = simulate(one(22, 30.0), np.random.default_rng(0))
    assert image.shape == (3, 125, 125) and image.dtype == np.float32
    assert np.all(image >= 0) and np.all(np.isfinite(image))


def test_photon_makes_a_compact_ecal_cluster_at_its_pixel():
    deta, dphi = 0.1, -0.05
    image = simulate(one(22, 50.0, deta, dphi), np.random.default_rng(1), QUIET)
    ecal = image[ECAL]
    peak = np.unravel_index(np.argmax(ecal), ecal.shape)
    assert peak == (pixel(deta), pixel(dphi))
    assert image[TRACK].sum() == 0 and image[HCAL].sum() == 0
    # resolution at 50 GeV: 2.8 %/sqrt(50) (+) 0.3 % = 0.5 %; allow 5 sigma
    assert ecal.sum() == pytest.approx(50.0, rel=0.025)
    i, j = peak
    assert ecal[i - 1:i + 2, j - 1:j + 2].sum() / ecal.sum() > 0.9  # Moliere radius ~ one crystal
    assert 0.5 < ecal[i, j] / ecal.sum() < 0.95


def test_charged_pion_track_bends_with_charge_and_shares_calorimeters():
    pt, deta = 10.0, 0.2
    expected_shift = math.asin(0.3 * 3.8 * 1.29 / (2 * pt))  # rad, ~4.2 crystals
    for charge in (+1.0, -1.0):
        image = simulate(one(211 * int(charge), pt, deta, 0.0, charge), np.random.default_rng(2), QUIET)
        hits = np.argwhere(image[TRACK] > 0)
        assert len(hits) == 1
        ieta, iphi = hits[0]
        assert ieta == pixel(deta)
        # a positive charge turns towards smaller phi in a field along +z
        assert iphi == pixel(-charge * expected_shift)
        assert image[TRACK, ieta, iphi] == pytest.approx(pt, rel=0.06)  # 1 % resolution, 6 sigma
        assert image[HCAL].sum() > 0  # a 10 GeV hadron always reaches the HCAL

    # over many pions: ~32 % cross the ECAL as a MIP (exp(-1.13)), the others shower early there
    rng = np.random.default_rng(3)
    mip_like, ecal_fraction = 0, []
    n = 300
    for _ in range(n):
        image = simulate(one(211, 20.0, 0.0, 0.0, 1.0), rng, QUIET)
        ecal, hcal = float(image[ECAL].sum()), float(image[HCAL].sum())
        mip_like += (ecal == pytest.approx(QUIET.mip_ecal)) and (image[ECAL] > 0).sum() == 1
        ecal_fraction.append(ecal / (ecal + hcal))
    assert 0.22 < mip_like / n < 0.42
    assert 0.1 < float(np.mean(ecal_fraction)) < 0.45


def test_neutral_hadron_has_no_track():
    image = simulate(one(2112, 15.0, 0.3, 0.3), np.random.default_rng(4), QUIET)
    assert image[TRACK].sum() == 0
    assert image[ECAL].sum() + image[HCAL].sum() > 0


def test_neutrino_leaves_nothing():
    for pid in (12, -14, 16):
        image = simulate(one(pid, 80.0), np.random.default_rng(5), QUIET)
        assert not image.any()


def test_soft_charged_particles_curl_up_and_are_removed():
    assert QUIET.curl_pt == pytest.approx(0.3 * 3.8 * 1.29 / 2)  # 0.735 GeV
    soft = simulate(one(211, 0.7, 0.0, 0.0, 1.0, energy=0.72), np.random.default_rng(6), QUIET)
    assert not soft.any()  # no track, no calorimeter deposit
    # just above the threshold it reaches the ECAL, bent by almost 90 degrees (outside the window)
    shift, reaches = bend_to_ecal(np.array([0.74, 0.7, 5.0]), np.array([1.0, -1.0, 0.0]), QUIET)
    assert reaches.tolist() == [True, False, True]
    assert shift[0] == pytest.approx(-math.asin(QUIET.curl_pt / 0.74)) and shift[1] == 0 and shift[2] == 0
    # a neutral particle of the same pT is not affected
    photon = simulate(one(22, 0.7, 0.0, 0.0), np.random.default_rng(6), QUIET)
    assert photon[ECAL].sum() > 0


def test_electron_has_track_and_ecal_but_muon_is_minimum_ionising():
    electron = simulate(one(11, 20.0, 0.0, 0.0, -1.0), np.random.default_rng(7), QUIET)
    assert electron[TRACK].sum() == pytest.approx(20.0, rel=0.06)
    assert electron[ECAL].sum() == pytest.approx(20.0, rel=0.05)
    assert electron[HCAL].sum() == 0
    muon = simulate(one(13, 50.0, 0.0, 0.0, -1.0), np.random.default_rng(7), QUIET)
    assert muon[TRACK].sum() == pytest.approx(50.0, rel=0.1)
    assert muon[ECAL].sum() == pytest.approx(QUIET.mip_ecal)
    assert (muon[ECAL] > 0).sum() == 1
    assert muon[HCAL].sum() == pytest.approx(QUIET.mip_hcal, rel=1e-5)


def test_hcal_is_stored_as_uniform_5x5_blocks():
    rng = np.random.default_rng(8)
    n = 40
    particles = Particles(deta=rng.uniform(-0.8, 0.8, n), dphi=rng.uniform(-0.8, 0.8, n),
                          pt=rng.uniform(1, 30, n), energy=rng.uniform(30, 60, n),
                          pid=rng.choice([211, -211, 130, 2112], n), charge=np.zeros(n))
    image = simulate(particles, rng)
    hcal = image[HCAL].reshape(25, 5, 25, 5)
    assert np.all(hcal == hcal[:, :1, :, :1])
    towers = hcal[:, 0, :, 0] * 25
    assert (towers > 0).sum() > 5
    np.testing.assert_allclose(towers_to_pixels(towers).sum(), towers.sum(), rtol=1e-6)


def test_noise_is_zero_suppressed():
    image = simulate(Particles([], [], [], [], [], []), np.random.default_rng(9))
    ecal = image[ECAL]
    assert np.all((ecal == 0) | (ecal >= DetectorConfig().ecal_threshold))
    assert (ecal > 0).sum() < 20  # a 3.75 sigma threshold leaves ~1 noise crystal per window
    assert image[TRACK].sum() == 0


def test_particles_outside_the_window_are_lost():
    far = simulate(one(22, 50.0, 1.2, 0.0), np.random.default_rng(10), QUIET)
    assert far.sum() < 1.0  # at most a tail crystal at the edge
    edge = simulate(one(22, 50.0, 0.0, 62 * geometry.PIXEL_SIZE), np.random.default_rng(10), QUIET)
    assert np.argmax(edge[ECAL].max(axis=0)) == 124


def test_same_generator_state_same_image():
    rng = np.random.default_rng(11)
    n = 30
    particles = Particles(deta=rng.uniform(-1, 1, n), dphi=rng.uniform(-1, 1, n), pt=rng.uniform(0.5, 40, n),
                          energy=rng.uniform(40, 80, n), pid=rng.choice([22, 211, -211, 2112, 11], n),
                          charge=rng.choice([-1.0, 0.0, 1.0], n))
    a = simulate(particles, np.random.default_rng(42))
    b = simulate(particles, np.random.default_rng(42))
    c = simulate(particles, np.random.default_rng(43))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_tracker_acceptance_uses_absolute_eta():
    inside = simulate(one(211, 10.0, 0.5, 0.0, 1.0), np.random.default_rng(12), QUIET, jet_eta=1.0)
    outside = simulate(one(211, 10.0, 0.5, 0.0, 1.0), np.random.default_rng(12), QUIET, jet_eta=2.2)
    assert inside[TRACK].sum() > 0 and outside[TRACK].sum() == 0


def test_config_is_frozen_and_validated():
    config = DetectorConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.b_field = 2.0  # type: ignore[misc]
    with pytest.raises(ConfigError, match="ecal_threshold"):
        DetectorConfig(ecal_threshold=-1.0)
    with pytest.raises(ConfigError, match="track_efficiency"):
        DetectorConfig(track_efficiency=1.5)
    with pytest.raises(ConfigError, match="b_field"):
        DetectorConfig(b_field=0.0)
    assert config.as_dict()["r_ecal"] == 1.29


def test_particles_are_validated():
    with pytest.raises(InvalidInput, match="deta"):
        Particles(deta=[np.nan], dphi=[0.0], pt=[1.0], energy=[1.0], pid=[22], charge=[0.0])
    with pytest.raises(InvalidInput, match="pt"):
        Particles(deta=[0.0, 0.1], dphi=[0.0, 0.0], pt=[1.0], energy=[1.0, 1.0], pid=[22, 22], charge=[0.0, 0.0])
    with pytest.raises(InvalidInput, match="energy"):
        Particles(deta=[0.0], dphi=[0.0], pt=[1.0], energy=[-1.0], pid=[22], charge=[0.0])
