"""PCA baseline (gvae.evaluate.baseline) against an independent SVD and on data of known rank."""
from __future__ import annotations

import numpy as np
import pytest

from gvae.errors import ConfigError, InvalidInput
from gvae.evaluate.baseline import PCABaseline


def _fit(xyz: np.ndarray, mask: np.ndarray, k: int, batch: int = 7) -> PCABaseline:
    pca = PCABaseline(k)
    for i in range(0, len(xyz), batch):
        pca.partial_fit(xyz[i:i + batch], mask[i:i + batch])
    return pca.finish()


def _jets(rng: np.random.Generator, n: int, nodes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    n_real = rng.integers(3, nodes + 1, n)
    mask = np.arange(nodes)[None, :] < n_real[:, None]
    return rng.normal(size=(n, nodes, 3)) * mask[..., None], mask


def test_matches_independent_svd_reconstruction() -> None:
    rng = np.random.default_rng(0)
    xyz, mask = _jets(rng, 60)
    pca = _fit(xyz, mask, 5)
    assert pca.n_components == 5 and not pca.rank_limited
    v = xyz.reshape(60, -1)
    mean = v.mean(axis=0)
    _, _, vt = np.linalg.svd(v - mean, full_matrices=False)
    expected = (mean + (v - mean) @ vt[:5].T @ vt[:5]).reshape(60, 10, 3) * mask[..., None]
    np.testing.assert_allclose(pca.reconstruct(xyz, mask), expected, atol=1e-9)


def test_exact_on_data_of_lower_rank_and_reports_rank_limit() -> None:
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(3, 30))
    v = 0.5 + rng.normal(size=(40, 3)) @ basis  # affine rank 3
    xyz, mask = v.reshape(40, 10, 3), np.ones((40, 10), bool)
    pca = _fit(xyz, mask, 8)
    assert pca.rank == 3 and pca.n_components == 3 and pca.rank_limited
    summary = pca.summary()
    assert summary["requested_components"] == 8 and summary["components"] == 3 and summary["rank_limited"]
    assert summary["explained_variance_fraction"] == pytest.approx(1.0)
    np.testing.assert_allclose(pca.reconstruct(xyz, mask), xyz, atol=1e-8)


def test_fewer_training_jets_than_components() -> None:
    rng = np.random.default_rng(2)
    xyz, mask = _jets(rng, 6)
    pca = _fit(xyz, mask, 20)
    assert pca.rank == 5 and pca.n_components == 5 and pca.rank_limited  # n - 1 directions after centring


def test_padding_rows_come_back_zero_and_ignored_on_input() -> None:
    rng = np.random.default_rng(3)
    xyz, mask = _jets(rng, 30)
    pca = _fit(xyz, mask, 4)
    noisy = xyz + 100.0 * ~mask[..., None]  # garbage on padding must not matter
    out = pca.reconstruct(noisy, mask)
    np.testing.assert_array_equal(out[~mask], 0.0)
    np.testing.assert_allclose(out, pca.reconstruct(xyz, mask))


def test_errors() -> None:
    with pytest.raises(ConfigError):
        PCABaseline(0)
    with pytest.raises(ConfigError):
        PCABaseline(2).finish()
    pca = PCABaseline(2)
    pca.partial_fit(np.zeros((3, 4, 3)), np.ones((3, 4), bool))
    with pytest.raises(InvalidInput):
        pca.partial_fit(np.zeros((3, 5, 3)), np.ones((3, 5), bool))
    with pytest.raises(InvalidInput):
        PCABaseline.vectorise(np.zeros((3, 4, 2)), np.ones((3, 4), bool))
    with pytest.raises(ConfigError):
        PCABaseline(2).reconstruct(np.zeros((1, 4, 3)), np.ones((1, 4), bool))


def test_fewer_jets_than_features_matches_independent_svd() -> None:
    # 25 jets <= 36 features: the fit diagonalises the Gram matrix instead of the covariance.
    rng = np.random.default_rng(4)
    xyz, mask = _jets(rng, 25, nodes=12)
    pca = _fit(xyz, mask, 6)
    v = xyz.reshape(25, -1)
    mean = v.mean(axis=0)
    _, sing, vt = np.linalg.svd(v - mean, full_matrices=False)
    np.testing.assert_allclose(pca.explained_variance, sing[:6] ** 2 / 24, rtol=1e-8)
    expected = (mean + (v - mean) @ vt[:6].T @ vt[:6]).reshape(25, 12, 3) * mask[..., None]
    np.testing.assert_allclose(pca.reconstruct(xyz, mask), expected, atol=1e-9)
