"""Generation metrics (gvae.evaluate.fpd, classifier, generation): FPD/KPD on known Gaussians, AUC
on same vs separable samples, and the truth-floor logic on synthetic and real (Pythia) jets."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from gvae.evaluate.classifier import auc_null_std, classifier_auc, roc_auc
from gvae.evaluate.fpd import efp_features, efp_names, fpd, frechet_distance, kpd
from gvae.evaluate.generation import (W1_FEATURES, JetSample, as_sample, compute_features, evaluate_generation,
                                      feature_names)
from gvae.jets import Hits
from gvae.evaluate.images import snap
from gvae.evaluate.latent_pca import jet_type_names


# ---------------------------------------------------------------- Fréchet / kernel distances
def test_frechet_distance_matches_the_sqrtm_formula() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 6)), rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 0.3
    m1, m2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (m1 - m2) @ (m1 - m2) + np.trace(s1 + s2) - 2 * np.trace(np.real(linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fpd_identical_gaussians_is_at_the_finite_sample_floor_and_shifted_gives_the_analytic_value() -> None:
    d, n = 5, 3000
    rng = np.random.default_rng(1)
    real, same = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    shift = np.array([0.5, 0.0, 0.0, 0.0, 0.5])
    shifted = rng.normal(size=(n, d)) + shift
    r_same = fpd(real, same, normalise=False, seed=3)
    r_shift = fpd(real, shifted, normalise=False, seed=3)
    # The infinite-N extrapolation removes the bootstrap's 1/batch bias; what is left is the Fréchet
    # distance between the two finite samples themselves: E|dm|^2 + E Tr-term = 2d/n + d(d+1)/(2n).
    floor = (2 * d + d * (d + 1) / 2) / n
    assert 0.3 * floor < r_same["value"] < 2.0 * floor
    # identical samples: the bootstrap batches alone differ by ~(2d + d(d+1)/2) / batch (0.008 at
    # the largest batch, 0.02 at the smallest); extrapolated to infinite batches that goes to 0
    r_ident = fpd(real, real.copy(), normalise=False, seed=3)
    assert abs(r_ident["value"]) < 0.1 * floor and r_ident["error"] < 0.3 * floor
    # FD(N(0, I), N(mu, I)) = |mu|^2 = 0.5, plus the same finite-sample floor
    assert r_shift["value"] == pytest.approx(float(shift @ shift) + floor, rel=0.1)
    assert r_same["max_samples"] == n and r_same["min_samples"] == 1200  # jetnet's 20k:50k ratio


def test_kpd_identical_vs_shifted() -> None:
    rng = np.random.default_rng(2)
    real, same, shifted = rng.normal(size=(800, 4)), rng.normal(size=(800, 4)), rng.normal(size=(800, 4)) + 0.4
    k_same, k_shift = kpd(real, same, seed=1), kpd(real, shifted, seed=1)
    assert abs(k_same["value"]) <= 3 * k_same["error"] + 1e-4
    assert k_shift["value"] > 10 * max(abs(k_same["value"]), k_same["error"])


# ---------------------------------------------------------------- classifier AUC
def test_roc_auc_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert roc_auc(y, np.zeros(4)) == 0.5
    assert roc_auc(y, np.array([0.1, 0.5, 0.5, 0.9])) == pytest.approx(0.875)


def test_classifier_auc_same_distribution_is_half_and_separable_is_one() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(200, 6)), rng.normal(size=(200, 6))
    c = rng.normal(size=(200, 6))
    c[:, 2] = rng.normal(size=200) * 0.2 + 3.0  # separable along one feature
    same = classifier_auc(a, b, seed=0, epochs=40)
    sep = classifier_auc(a, c, seed=0, epochs=40)
    assert abs(same["auc"] - 0.5) < 3 * same["null_std"]
    assert sep["auc"] > 0.97
    assert same["null_std"] == pytest.approx(auc_null_std(200, 200))
    assert classifier_auc(a, c, seed=0, epochs=40)["auc"] == sep["auc"]  # seeded


# ---------------------------------------------------------------- features and floors
def _jets(rng: np.random.Generator, n: int, energy: float = 5.0, width: float = 0.1) -> list[Hits]:
    out = []
    for _ in range(n):
        m = int(rng.poisson(60))
        raw = Hits.at(rng.normal(0, width, m), rng.normal(0, width, m), rng.exponential(energy, m) + 1.0,
                   rng.integers(0, 3, m))
        out.append(snap(raw)[0])
    return out


def test_efp_features_are_jetnet_s_36_on_relative_pt() -> None:
    rng = np.random.default_rng(5)
    jets = _jets(rng, 3)
    assert len(efp_names()) == 36 and efp_names()[0] == "efp_0_n1_d0"
    e = efp_features(jets)
    assert e.shape == (3, 36)
    np.testing.assert_allclose(e[:, 0], 1.0)  # d = 0: the sum of the relative pTs
    # relative pT: scaling every energy leaves the EFPs unchanged, moving hits apart does not
    scaled = [Hits.at(h.x, h.y, 2.0 * h.energy, h.channel) for h in jets]
    np.testing.assert_allclose(efp_features(scaled), e, rtol=1e-9)
    wider = [Hits.at(2.0 * h.x, 2.0 * h.y, h.energy, h.channel) for h in jets]
    d = np.array([int(s.split("_d")[1]) for s in efp_names()])
    # beta = 1: an EFP with d edges scales as (angle)^d (pT = E / cosh(x) changes too: compare d = 1 ratios loosely)
    assert np.all(efp_features(wider)[:, d == 4].mean(axis=0) > 4.0 * e[:, d == 4].mean(axis=0))
    # tracks do not enter
    no_tracks = [h.select(1) for h in jets]
    only_calo = [Hits.at(np.concatenate([h.select(1).x, h.select(2).x]), np.concatenate([h.select(1).y, h.select(2).y]),
                      np.concatenate([h.select(1).energy, h.select(2).energy]),
                      np.concatenate([h.select(1).channel, h.select(2).channel])) for h in jets]
    np.testing.assert_allclose(efp_features(only_calo), e, rtol=1e-9)
    np.testing.assert_allclose(efp_features(jets + [Hits.at(np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1, int))],
                                            workers=2), np.vstack([e, np.zeros((1, 36))]), rtol=1e-12)
    assert not np.allclose(efp_features(no_tracks), e)


def _median_w1_multiple(sample: dict) -> float:
    return float(np.median([v["multiple"] for v in sample["w1"].values() if v["multiple"] is not None]))


@pytest.mark.slow
def test_floors_same_distribution_vs_shifted_synthetic(tmp_path) -> None:
    rng = np.random.default_rng(6)
    real = {"qcd": _jets(rng, 60)}
    same = {"qcd": _jets(rng, 30)}
    shifted = {"qcd": _jets(rng, 30, energy=8.0, width=0.16)}
    res = evaluate_generation(real, same, tmp_path, seed=2, baselines={"shifted": shifted}, classifier_epochs=30,
                              gallery=2)
    entry = res["types"]["qcd"]
    assert entry["n_jets"] == 30
    s, x = entry["samples"]["generated"], entry["samples"]["shifted"]
    assert set(s["w1"]) == set(W1_FEATURES)
    # same distribution: consistent with the floor
    assert _median_w1_multiple(s) < 2.0
    assert s["fpd"]["z"] < 3.0
    assert s["auc"]["multiple"] < 3.0
    # shifted: many times the floor
    assert _median_w1_multiple(x) > 3.0
    assert x["fpd"]["multiple"] > 20.0 and x["fpd"]["z"] > 3.0
    assert x["auc"]["value"] > 0.9
    for name in res["plots"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"generation_qcd_distributions.png", "generation_qcd_average_images.png",
            "generation_qcd_gallery_generated.png"} <= set(res["plots"])
    assert len(res["feature_names"]) == len(feature_names()) == 36 + 9 + 10
    # the section goes into report.json (schema) and report.md
    import json

    import jsonschema

    from gvae.evaluate.report import _clean
    from gvae.evaluate.report_generation import GENERATION_SCHEMA, generation_markdown

    clean = json.loads(json.dumps(_clean(res)))
    jsonschema.validate(clean, GENERATION_SCHEMA)
    md = "\n".join(generation_markdown(clean))
    assert "### qcd: 30 jets per sample" in md and "| shifted |" in md and "| mass_calo |" in md


@pytest.mark.slow
def test_floors_on_pythia_jets(physics_jets) -> None:
    """Disjoint Pythia jets of one type sit at the floor; the same jets with HCAL energies x 2 do not."""
    types = jet_type_names(physics_jets.y)
    top = np.flatnonzero(types == "ttbar")
    sample = as_sample(physics_jets)
    real = sample.take(top[:60])
    other = sample.take(top[60:90])
    scaled = JetSample([Hits.at(h.x, h.y, np.where(h.channel == 2, 2.0, 1.0) * h.energy, h.channel) for h in other.hits],
                       other.eta)
    res = evaluate_generation({"ttbar": real}, {"ttbar": other}, None, seed=0, baselines={"hcal_x2": {"ttbar": scaled}},
                              classifier_epochs=30)
    entry = res["types"]["ttbar"]
    good, bad = entry["samples"]["generated"], entry["samples"]["hcal_x2"]
    assert entry["n_jets"] == 30
    assert good["w1"]["energy_hcal"]["multiple"] < 3.0
    assert bad["w1"]["energy_hcal"]["multiple"] > 3.0
    assert bad["w1"]["energy_hcal"]["multiple"] > 2 * good["w1"]["energy_hcal"]["multiple"]
    assert good["fpd"]["z"] < 3.0
    assert abs(good["auc"]["value"] - 0.5) < 3 * good["auc"]["null_std"] and bad["auc"]["value"] > 0.85


def test_compute_features_per_hit_and_bad_input() -> None:
    h = Hits.at(np.array([0.0, 0.1]), np.array([0.0, -0.1]), np.array([2.0, np.e]), np.array([1, 2]))
    f = compute_features(JetSample([h], np.zeros(1)))
    np.testing.assert_allclose(f.per_hit["hit_log_energy_all"], [np.log(2.0), 1.0])
    np.testing.assert_allclose(f.per_hit["hit_x_hcal"], [0.1])
    assert f.per_hit["hit_x_track"].size == 0
    assert f.scalars["n_hits_ecal"][0] == 1 and f.scalars["energy_total"][0] == pytest.approx(2 + np.e)
    from gvae.errors import ConfigError, InvalidInput

    with pytest.raises(InvalidInput):
        as_sample([h, "not hits"])
    with pytest.raises(ConfigError):
        evaluate_generation({"qcd": [h] * 3}, {"qcd": [h] * 3})
    with pytest.raises(ConfigError):
        evaluate_generation({"qcd": [h] * 10}, {"ttbar": [h] * 10})


def test_plots_set_their_style_per_figure(tmp_path) -> None:
    import matplotlib.pyplot as plt

    from gvae.evaluate import plots, plots_generation

    before = dict(plt.rcParams)
    plots.radial_profile_plot({"original": np.full(9, 0.1), "gvae": np.full(9, 0.12)}, tmp_path / "r.png")
    plots_generation.image_grid({"a": np.ones((3, 125, 125))}, tmp_path / "g.png", "t")
    changed = [k for k in before if before[k] != plt.rcParams[k]]
    assert changed == []
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_as_sample_reads_hit_batches_and_images() -> None:
    from gvae.jets import HitBatch, JetBatch

    batch = HitBatch(jet=np.array([0, 0, 1]), channel=np.array([1, 2, 0]), ieta=np.array([62, 67, 60]),
                     iphi=np.array([62, 62, 61]), energy=np.array([3.0, 5.0, 1.5], np.float32), counts=np.array([2, 1]),
                     scalars={"eta": np.array([0.5, np.nan])})
    s = as_sample(batch)
    assert len(s) == 2 and list(s.eta) == [0.5, 0.0]
    np.testing.assert_allclose(s.hits[0].x, [0.0, 5 * 0.0174])
    np.testing.assert_allclose(s.hits[1].energy, [1.5])
    images = batch.images()
    j = as_sample(JetBatch(images, pt=np.ones(2), m0=np.ones(2), y=np.ones(2)))
    np.testing.assert_allclose(np.sort(j.hits[0].energy), [3.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose(j.hits[1].y, [-0.0174])
