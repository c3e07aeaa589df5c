"""Detector electronics noise on empty events: the number (and energy) of noise-only hits per event
matches what the configured noise width and zero-suppression threshold predict.

For a cell with Gaussian noise of width ``sigma`` and threshold ``t``, the probability to read a
nonzero value is ``p = Q(t / sigma)`` (Q = upper tail of the standard normal), so an empty event
has ``Binomial(n_cells, p)`` noise hits: 15625 ECAL crystals (sigma = ecal_noise_3x3 / 3) and 625
HCAL towers (sigma = hcal_tower_noise). Over ``N`` events the mean count has the standard error
``sqrt(n_cells p (1 - p) / N)``; the tests allow 5 of them (a false failure once in ~1.7 million
seeds; the seed is fixed anyway). The energy of a surviving noise hit follows the Gaussian tail
above ``t``: mean ``sigma * phi(z) / Q(z)`` with ``z = t / sigma``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from gvae import geometry
from gvae.data.detector import DetectorConfig, Particles, simulate

EVENTS = 1000
N_SIGMA = 5.0
ECAL, HCAL = geometry.ECAL, geometry.HCAL
N_CRYSTALS = geometry.IMAGE_SIZE ** 2
N_TOWERS = geometry.N_TOWERS ** 2


def _tail(z: float) -> float:
    """Q(z) = P(X > z) for a standard normal X."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _tail_mean(sigma: float, threshold: float) -> tuple[float, float]:
    """Mean and standard deviation of X ~ N(0, sigma^2) given X > threshold."""
    z = threshold / sigma
    lam = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / _tail(z)
    return sigma * lam, sigma * math.sqrt(1.0 + z * lam - lam * lam)


def _empty_events(config: DetectorConfig, seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Simulate EVENTS empty events; returns ECAL and HCAL-tower hit counts ``[EVENTS]`` and the
    nonzero ECAL crystal / HCAL tower energies ``[ecal_hits], [towers]``."""
    rng = np.random.default_rng(seed)
    empty = Particles([], [], [], [], [], [])
    ecal_counts, hcal_counts, ecal_e, hcal_e = [], [], [], []
    for _ in range(EVENTS):
        image = simulate(empty, rng, config)
        assert not image[geometry.TRACK].any()  # noise never makes tracks
        ecal = image[ECAL]
        towers = image[HCAL].reshape(geometry.N_TOWERS, 5, geometry.N_TOWERS, 5).sum(axis=(1, 3),
                                                                                     dtype=np.float64)
        ecal_counts.append(np.count_nonzero(ecal))
        hcal_counts.append(np.count_nonzero(towers))
        ecal_e.append(ecal[ecal > 0])
        hcal_e.append(towers[towers > 0])
    return np.array(ecal_counts), np.array(hcal_counts), [np.concatenate(ecal_e), np.concatenate(hcal_e)]


def _check_rate(counts: np.ndarray, n_cells: int, sigma: float, threshold: float, what: str) -> None:
    p = _tail(threshold / sigma)
    expected = n_cells * p
    error = math.sqrt(n_cells * p * (1.0 - p) / len(counts))
    mean = float(counts.mean())
    assert abs(mean - expected) <= N_SIGMA * error, \
        f"{what}: {mean:.4f} noise hits per empty event, expected {expected:.4f} +- {error:.4f}"


def _check_energy(energies: np.ndarray, sigma: float, threshold: float, what: str) -> None:
    assert len(energies) > 100, f"{what}: only {len(energies)} noise hits"
    assert energies.min() >= threshold * (1 - 1e-6)
    mean, std = _tail_mean(sigma, threshold)
    error = std / math.sqrt(len(energies))
    assert abs(float(energies.mean()) - mean) <= N_SIGMA * error, \
        f"{what}: noise hit energy {energies.mean():.5f} GeV, expected {mean:.5f} +- {error:.5f}"


@pytest.mark.parametrize("config", [DetectorConfig(), DetectorConfig(ecal_threshold=0.1, hcal_threshold=0.6)],
                         ids=["default", "lower-thresholds"])
def test_noise_hits_per_empty_event_match_the_configured_rate(config: DetectorConfig) -> None:
    """Default config: ~1.4 ECAL crystals and ~0.43 HCAL towers per empty event; the second set of
    thresholds (2.5 and 2.4 sigma: ~97 crystals, ~5 towers) pins the noise widths as well."""
    ecal_counts, hcal_counts, (ecal_e, hcal_e) = _empty_events(config, seed=2024)
    _check_rate(ecal_counts, N_CRYSTALS, config.ecal_crystal_noise, config.ecal_threshold, "ECAL")
    _check_rate(hcal_counts, N_TOWERS, config.hcal_tower_noise, config.hcal_threshold, "HCAL")
    _check_energy(ecal_e, config.ecal_crystal_noise, config.ecal_threshold, "ECAL")
    _check_energy(hcal_e, config.hcal_tower_noise, config.hcal_threshold, "HCAL")
