"""Covariance models of the conditional prior (gvae.model.prior): factor analysis recovers a known
low-rank + diagonal covariance, held-out selection prefers it over the diagonal when the latents are
correlated, sampling is a deterministic function of the caller's noise, older checkpoints still load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gvae.errors import ConfigError
from gvae.model.prior import (ConditionalPrior, candidate_covariance, covariance_candidates, factor_analysis,
                              ledoit_wolf_shrinkage, oas_shrinkage)

D, RANK = 24, 3


def _low_rank_plus_diag(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(D, RANK)) * 1.5
    psi = rng.uniform(0.2, 1.0, D)
    return w, psi


def _correlated_latents(n: int, seed: int, w: np.ndarray, psi: np.ndarray):
    """Latents ``[n, 4, 6]`` of two types whose residual covariance is ``w w^T + diag(psi)`` (type 1: the
    factors scaled by 0.5), with a mean linear in ln pT."""
    rng = np.random.default_rng(seed)
    label = (np.arange(n) % 2).astype(np.float32)
    pt = rng.uniform(400, 900, n)
    scale = np.where(label == 1, 0.5, 1.0)[:, None]
    z = (rng.normal(size=(n, RANK)) @ w.T) * scale + rng.normal(size=(n, D)) * np.sqrt(psi)
    z += 2.0 * label[:, None] + 1.5 * np.log(pt / 600)[:, None]
    return z.reshape(n, 4, 6), label, pt


def test_factor_analysis_recovers_a_known_low_rank_plus_diagonal_covariance():
    w, psi = _low_rank_plus_diag()
    true = w @ w.T + np.diag(psi)
    x = np.random.default_rng(1).multivariate_normal(np.zeros(D), true, size=20000)
    s = x.T @ x / len(x)
    w_hat, psi_hat, iters = factor_analysis(s, RANK)
    assert iters >= 2
    # W is identified up to a rotation: compare W W^T and psi
    assert np.linalg.norm(w_hat @ w_hat.T - w @ w.T) / np.linalg.norm(w @ w.T) < 0.05
    assert np.max(np.abs(psi_hat - psi) / psi) < 0.15
    with pytest.raises(ConfigError):
        factor_analysis(s, D)


def test_shrinkage_weights_follow_the_sample_size_and_the_target():
    rng = np.random.default_rng(2)
    spherical = rng.normal(size=(40, 30))                       # truth = the scaled identity target
    w, psi = _low_rank_plus_diag()
    correlated = rng.multivariate_normal(np.zeros(D), w @ w.T + np.diag(psi), size=5000)
    correlated -= correlated.mean(0)
    for weight in (ledoit_wolf_shrinkage, oas_shrinkage):
        assert weight(spherical - spherical.mean(0)) > 0.5
        assert weight(correlated) < 0.05


def test_heldout_selection_keeps_the_correlations_and_beats_the_diagonal():
    w, psi = _low_rank_plus_diag()
    prior = ConditionalPrior.fit(*_correlated_latents(4000, 0, w, psi), *_correlated_latents(1000, 1, w, psi),
                                 criterion="loglik")
    sel = prior.selection
    for k in (0, 1):
        assert prior.covariance[k].startswith("factor_"), prior.covariance
        assert sel[f"{k}:chosen"] == max(v for key, v in sel.items() if key.startswith(f"{k}:") and "frechet" not in key)
        assert sel[f"{k}:chosen"] > sel[f"{k}:shrink_1.0"] + 5.0      # correlations are worth nats per jet
    assert sel["heldout"] > sel["standard_normal"]
    assert set(covariance_candidates(D, 2000)) == {key.split(":")[1] for key in sel if key.startswith("0:")} - {"chosen"}
    # the stored Cholesky factor is the chosen model's covariance
    sigma = prior.chol[0] @ prior.chol[0].T
    assert np.linalg.norm(sigma - (w @ w.T + np.diag(psi))) / np.linalg.norm(w @ w.T) < 0.1
    assert np.isnan(prior.shrinkage)


def test_sampling_is_a_deterministic_function_of_the_noise_with_the_chosen_covariance():
    w, psi = _low_rank_plus_diag()
    prior = ConditionalPrior.fit(*_correlated_latents(4000, 0, w, psi), *_correlated_latents(1000, 1, w, psi))
    label, pt = torch.zeros(20000), torch.full((20000,), 600.0)
    noise = torch.randn(20000, prior.dim, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(0)
    a = prior.sample(label, pt, noise)
    torch.manual_seed(1)                                       # the global RNG plays no part
    b = prior.sample(label, pt, noise.clone())
    assert torch.equal(a, b)
    assert not torch.equal(a, prior.sample(label, pt, torch.randn(20000, prior.dim,
                                                                  generator=torch.Generator().manual_seed(8))))
    restored = ConditionalPrior.from_state(prior.state())
    assert restored.covariance == prior.covariance and torch.equal(restored.sample(label, pt, noise), a)
    emp = np.cov(a.reshape(20000, -1).double().numpy(), rowvar=False)
    assert np.linalg.norm(emp - (w @ w.T + np.diag(psi))) / np.linalg.norm(w @ w.T) < 0.1


def test_a_prior_state_without_covariance_names_reads_as_the_shrinkage_model():
    w, psi = _low_rank_plus_diag()
    prior = ConditionalPrior.fit(*_correlated_latents(400, 0, w, psi), *_correlated_latents(100, 1, w, psi))
    state = prior.state()
    state["shrinkage"] = 0.3
    for v in state["types"].values():
        del v["covariance"]
    assert ConditionalPrior.from_state(state).covariance == {0: "shrink_0.3", 1: "shrink_0.3"}
    with pytest.raises(ConfigError):
        candidate_covariance(np.zeros((10, 3)), "wishart")


def test_a_named_covariance_overrides_the_selection_but_keeps_its_numbers():
    w, psi = _low_rank_plus_diag()
    data = (*_correlated_latents(800, 0, w, psi), *_correlated_latents(200, 1, w, psi))
    diag = ConditionalPrior.fit(*data, covariance="shrink_1.0", components=1)     # one Gaussian per type
    assert diag.covariance == {0: "shrink_1.0", 1: "shrink_1.0"} and diag.shrinkage == 1.0
    assert np.allclose(diag.chol[0], np.diag(np.diag(diag.chol[0])))          # diagonal model: diagonal factor
    assert diag.selection["0:chosen"] == diag.selection["0:shrink_1.0"] < diag.selection["0:factor_4"]
    with pytest.raises(ConfigError):
        ConditionalPrior.fit(*data, covariance="factor_256")                  # rank >= latent size: no candidate


def test_the_frechet_criterion_is_zero_for_the_residuals_own_gaussian_and_picks_by_distance():
    from gvae.model.prior import _frechet

    w, psi = _low_rank_plus_diag()
    r = np.random.default_rng(3).multivariate_normal(np.zeros(D), w @ w.T + np.diag(psi), size=500)
    r -= r.mean(0)
    own = np.linalg.cholesky(np.cov(r, rowvar=False))
    assert abs(_frechet(r, own)) < 1e-6 * np.trace(w @ w.T)
    assert _frechet(r, np.diag(np.sqrt(np.diag(np.cov(r, rowvar=False))))) > 1.0    # the diagonal misses W W^T
    prior = ConditionalPrior.fit(*_correlated_latents(4000, 0, w, psi), *_correlated_latents(1000, 1, w, psi),
                                 criterion="frechet")
    sel = prior.selection
    for k in (0, 1):
        assert prior.covariance[k] != "shrink_1.0"
        assert sel[f"{k}:chosen:frechet"] == min(v for key, v in sel.items()
                                                  if key.startswith(f"{k}:") and key.endswith(":frechet"))
    assert ConditionalPrior.from_state(prior.state()).criterion == "frechet"
    with pytest.raises(ConfigError):
        ConditionalPrior.fit(*_correlated_latents(400, 0, w, psi), *_correlated_latents(100, 1, w, psi), criterion="aic")
