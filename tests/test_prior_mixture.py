"""Mixture refinement of the conditional prior (gvae.model.prior): the component choice is an exact
reparameterisation of the caller's noise, held-out selection finds clusters that are there and adds none
that are not, the stored prior round-trips (and a v1 prior reads as one Gaussian), bad settings are refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from gvae.errors import ConfigError
from gvae.model.prior import ConditionalPrior, component_noise
from gvae.train.config import PriorConfig

D = 12


def _latents(n: int, seed: int, clustered: bool):
    """Latents ``[n, 3, 4]`` of two types with a mean linear in ln pT; with ``clustered`` type 0 has two
    clusters (40 % of its jets shifted by 5 along the first coordinate, within-cluster spread 1)."""
    rng = np.random.default_rng(seed)
    label = (np.arange(n) % 2).astype(np.float32)
    pt = rng.uniform(400, 900, n)
    z = rng.normal(size=(n, D)) + 2.0 * label[:, None] + 1.5 * np.log(pt / 600)[:, None]
    if clustered:
        z[:, 0] += np.where((label == 0) & (rng.random(n) < 0.4), 5.0, 0.0)
    return z.reshape(n, 3, 4), label, pt


def test_the_component_choice_is_an_exact_reparameterisation_of_the_noise():
    n = 200_000
    eps = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weights = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    cum = torch.cumsum(weights, 0)
    cum[-1] = 1.0
    comp, renewed = component_noise(eps, cum.expand(n, 3), torch.full((n,), 3, dtype=torch.int64))
    freq = torch.bincount(comp, minlength=3).double() / n
    assert torch.allclose(freq, weights, atol=0.005)
    for c in range(3):                      # within each component: a fresh standard normal
        assert stats.kstest(renewed[comp == c].numpy(), "norm").pvalue > 1e-3
    # one component: the noise passes through bit for bit
    one_comp, same = component_noise(eps, torch.ones(n, 3, dtype=torch.float64), torch.ones(n, dtype=torch.int64))
    assert torch.equal(same, eps) and not one_comp.any()
    # padding components (weight 0) are never chosen, even for the largest noise
    big = torch.tensor([40.0, -40.0], dtype=torch.float64)
    pad, _ = component_noise(big, torch.tensor([[0.6, 1.0, 1.0]] * 2, dtype=torch.float64),
                             torch.tensor([2, 2]))
    assert pad.tolist() == [1, 0]


def test_heldout_selection_finds_the_clusters_that_are_there_and_only_those():
    prior = ConditionalPrior.fit(*_latents(1600, 0, True), *_latents(800, 1, True))
    assert prior.components(0) > 1 and prior.components(1) == 1
    sel = prior.selection
    assert sel["mixture:0:2"] > sel["mixture:0:1"] + 0.1             # the clusters are worth a fraction of a nat per jet
    per_k = {int(key.split(":")[2]): v for key, v in sel.items() if key.startswith("mixture:0:") and key.count(":") == 2
             and key.split(":")[2].isdigit()}
    assert sel["0:chosen"] == max(per_k.values()) and per_k[int(sel["mixture:0:chosen"])] == sel["0:chosen"]
    # the weights are the clusters' shares; sampling reproduces the two peaks
    assert sorted(prior.weights[0])[-1] == pytest.approx(0.6, abs=0.08) or prior.components(0) > 2
    z = prior.sample(torch.zeros(20000), torch.full((20000,), 600.0),
                     torch.randn(20000, D, generator=torch.Generator().manual_seed(3)))[:, 0, 0].numpy()
    hist, _ = np.histogram(z, bins=np.linspace(-4, 9, 27))
    peak_lo, peak_hi, valley = hist[:12].max(), hist[14:].max(), hist[9:15].min()
    assert valley < 0.5 * min(peak_lo, peak_hi)                  # bimodal, as the latents
    gaussian = ConditionalPrior.fit(*_latents(1600, 0, False), *_latents(800, 1, False))
    assert gaussian.components(0) == gaussian.components(1) == 1
    assert gaussian.selection["heldout"] > -np.inf


def test_a_mixture_prior_round_trips_and_a_v1_prior_reads_as_one_gaussian():
    prior = ConditionalPrior.fit(*_latents(1600, 0, True), *_latents(800, 1, True), components=2)
    state = prior.state()
    assert state["format"] == "gvae-prior-v2"
    back = ConditionalPrior.from_state(state)
    label, pt = torch.tensor([0.0, 1.0] * 50), torch.full((100,), 700.0)
    noise = torch.randn(100, D, generator=torch.Generator().manual_seed(5))
    assert torch.equal(back.sample(label, pt, noise), prior.sample(label, pt, noise))
    assert back.components(0) == back.components(1) == 2
    # a prior stored before mixtures (v1: no weights/offsets) is one Gaussian per type, sampled as before
    v1 = ConditionalPrior.fit(*_latents(1600, 0, True), *_latents(800, 1, True), components=1).state()
    assert all("weights" not in v and "component_chol" not in v for v in v1["types"].values())  # no copies of chol
    v1["format"] = "gvae-prior-v1"
    old = ConditionalPrior.from_state(v1)
    assert old.components(0) == 1
    z = old.sample(label, pt, noise)
    t = (torch.log(pt.double()) - old.logpt_mean) / old.logpt_std
    expect = torch.from_numpy(old.mean[0]) + t[:1, None] * torch.from_numpy(old.slope[0]) \
        + noise[:1].double() @ torch.from_numpy(old.chol[0]).T
    assert torch.allclose(z[0].flatten().double(), expect[0].float().double())


def test_bad_component_settings_are_refused_with_the_field_named():
    for bad in (0, 9, "two", True):
        with pytest.raises(ConfigError, match="prior.components"):
            PriorConfig(components=bad).validate()
    assert PriorConfig(components=3).validate().forced_components == 3
    assert PriorConfig().validate().forced_components is None
    assert PriorConfig(components="auto").validate().forced_components is None
    with pytest.raises(ConfigError, match="prior.components = 8"):
        ConditionalPrior.fit(*_latents(100, 0, True), *_latents(40, 1, True), components=8)


def test_the_report_states_the_mixture_choice_with_its_numbers():
    from gvae.evaluate.latent import prior_summary
    from gvae.evaluate.report_generation import prior_markdown

    prior = ConditionalPrior.fit(*_latents(1600, 0, True), *_latents(800, 1, True))
    summary = prior_summary(prior)
    assert summary["components"] == {"qcd": prior.components(0), "ttbar": 1}
    assert len(summary["weights"]["qcd"]) == prior.components(0) and summary["weights"]["ttbar"] == [1.0]
    text = "\n".join(prior_markdown(summary))
    assert "Mixture refinement" in text and "| components | qcd loglik (kept) | ttbar loglik (kept) |" in text
    best = summary["heldout_loglik_per_jet"][f"mixture:0:{prior.components(0)}"]
    assert f"**{best:.1f}**" in text
    assert "| mixture |" not in text                      # the mixture figures are not a covariance candidate
