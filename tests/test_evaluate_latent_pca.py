"""Detector snapping (gvae.evaluate.images), the latent-only PCA and Gaussian-PCA generator
(gvae.evaluate.latent_pca) and the reconstruction-baselines entry point (gvae.evaluate.reconstruction)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gvae import geometry
from gvae.data.detector import DetectorConfig
from gvae.errors import ConfigError, InvalidInput
from gvae.evaluate.hits import hits_from_features
from gvae.jets import Hits
from gvae.evaluate.images import hits_from_sets, hits_to_image, image_to_hits, snap
from gvae.evaluate.latent_pca import (NODE_DIM, GaussianPCAGenerator, LatentOnlyPCA, jet_type_names, node_vectors,
                                      vector_to_hits)
from gvae.evaluate.reconstruction import evaluate_reconstruction_baselines
from gvae.graphs.build import build_graphs
from gvae.graphs.normalisation import Normalisation
from gvae.jets import Hits as HitsType

P = geometry.PIXEL_SIZE


def _sorted(h: Hits) -> np.ndarray:
    a = np.stack([h.channel, np.rint(h.x / P), np.rint(h.y / P), h.energy], axis=1)
    return a[np.lexsort(a.T[::-1])]


def test_snap_moves_hits_to_cell_centres_sums_and_thresholds() -> None:
    h = Hits.at(x=np.array([0.4 * P, -0.3 * P, 0.1 * P, 0.0, 3 * P, 9.0]),
             y=np.array([0.0, 0.2 * P, 0.0, 0.0, 3 * P, 0.0]),
             energy=np.array([1.0, 2.0, 0.1, 5.0, 0.5, 7.0]),
             channel=np.array([1, 1, 1, 0, 2, 1]))
    out, lost = snap(h)
    assert lost == pytest.approx(7.0)  # x = 9 is outside the window
    got = _sorted(out)
    # ECAL: 1 + 2 + 0.1 on pixel (62, 62) -> one hit of 3.1; track kept; HCAL 0.5 GeV < 0.8 threshold dropped
    np.testing.assert_allclose(got, [[0, 0, 0, 5.0], [1, 0, 0, 3.1]])
    no_thr, _ = snap(h, thresholds=False)
    hcal = no_thr.select(geometry.HCAL)
    assert len(hcal) == 1 and hcal.energy[0] == pytest.approx(0.5)
    # HCAL hit at pixel 65 lies in tower 13 (pixels 65-69), centre pixel 67 -> offset 5 pixels
    assert hcal.x[0] == pytest.approx(5 * P) and hcal.y[0] == pytest.approx(5 * P)
    low = snap(h, DetectorConfig(ecal_threshold=4.0))[0]
    assert len(low.select(geometry.ECAL)) == 0


def test_detector_jets_round_trip_through_images(generated_jets) -> None:
    graphs = _graphs(generated_jets.images[:3], max_nodes=2000)
    for j, img in enumerate(generated_jets.images[:3]):
        hits = image_to_hits(img)
        # the same hits, at the same coordinates, as the graph builder's nodes
        nodes = hits_from_features(graphs["features"][j], graphs["mask"][j])
        np.testing.assert_allclose(_sorted(hits), _sorted(nodes), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(hits_to_image(hits), img, rtol=1e-6, atol=1e-7)
        again, lost = snap(hits, thresholds=False)
        assert lost == 0.0
        np.testing.assert_allclose(_sorted(again), _sorted(hits), rtol=1e-12)
    with pytest.raises(InvalidInput):
        image_to_hits(np.zeros((3, 10, 10)))


def _graphs(images: np.ndarray, max_nodes: int = 300) -> dict[str, np.ndarray]:
    return build_graphs(np.asarray(images, dtype=np.float32), k=4, max_nodes=max_nodes)


def test_node_vectors_and_decoding_rules() -> None:
    f6 = torch.zeros(1, 3, 6)
    f6[0, 0] = torch.tensor([0.1, 0.2, 0.3, 0, 1, 0])
    f6[0, 1] = torch.tensor([0.4, 0.5, 0.6, 1, 0, 0])
    mask = torch.tensor([[True, True, False]])
    v = node_vectors(f6, mask)
    np.testing.assert_allclose(v[0, :, 6], [1, 1, 0])
    np.testing.assert_allclose(v[0, 2], 0.0)
    norm = Normalisation(0.0, 1.0, 0.0, 1.0, 0.0, 1.0)
    dec = np.zeros((4, NODE_DIM))
    dec[0] = [0.0, 0.0, np.log(3.0), 0.2, 0.7, 0.1, 0.6]   # real, ECAL
    dec[1] = [0.1, 0.0, np.log(2.0), 0.1, 0.3, 0.5, 0.51]  # real, HCAL
    dec[2] = [0.0, 0.1, np.log(9.0), 0.9, 0.0, 0.0, 0.49]  # not real: dropped although it carries energy
    dec[3] = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.2]
    h = vector_to_hits(dec, norm)
    np.testing.assert_array_equal(h.channel, [1, 2])
    np.testing.assert_allclose(h.energy, [3.0, 2.0])
    np.testing.assert_allclose(h.x, [0.0, 0.1])


def test_latent_only_pca_round_trips_with_enough_components(generated_jets) -> None:
    g = _graphs(generated_jets.images[:20])
    norm = Normalisation.compute(g["features"], g["mask"])
    f6 = norm.apply(torch.as_tensor(g["features"]), torch.as_tensor(g["mask"]))
    pca = LatentOnlyPCA(40)
    pca.partial_fit(f6[:11], g["mask"][:11])
    pca.partial_fit(f6[11:], g["mask"][11:])
    pca.finish()
    assert pca.n_components == 19 and pca.rank_limited  # 20 jets span 19 centred directions
    z = pca.encode(f6, g["mask"])
    assert z.shape == (20, 19)
    decoded = pca.decode(z, norm)
    curl = DetectorConfig().curl_pt
    for j in range(20):
        orig = hits_from_features(g["features"][j], g["mask"][j])
        # decoded jets are snapped by gvae.model.snap, as the latent GVAE's: its readout thresholds include the
        # tracks' curling pT, which drops the few real tracks whose smeared pT lies just below it
        keep = ~((orig.channel == geometry.TRACK) & (orig.energy < curl))
        orig = HitsType.at(orig.x[keep], orig.y[keep], orig.energy[keep], orig.channel[keep])
        np.testing.assert_allclose(_sorted(decoded[j]), _sorted(orig), rtol=1e-4, atol=1e-4)
    # with few components it must still decode the count from the real flags, not from the input mask
    small = LatentOnlyPCA(2)
    small.partial_fit(f6, g["mask"])
    small.finish()
    counts = np.array([len(h) for h in small.decode(small.encode(f6, g["mask"]), norm, snap_to_detector=False)])
    flags = small.decode_vectors(small.encode(f6, g["mask"]))[..., 6] > 0.5
    np.testing.assert_array_equal(counts, flags.sum(axis=1))
    assert not np.array_equal(counts, g["mask"].sum(axis=1))


def test_gaussian_pca_generator_is_seeded_and_per_type(generated_jets) -> None:
    g = _graphs(generated_jets.images[:60])
    norm = Normalisation.compute(g["features"], g["mask"])
    f6 = norm.apply(torch.as_tensor(g["features"]), torch.as_tensor(g["mask"]))
    pca = LatentOnlyPCA(6)
    pca.partial_fit(f6, g["mask"])
    pca.finish()
    z = pca.encode(f6, g["mask"])
    types = jet_type_names(generated_jets.y[:60])
    gen = GaussianPCAGenerator(pca, norm).fit(z, types)
    assert gen.jet_types == ["qcd", "ttbar"]
    a = gen.sample_coefficients("ttbar", 400, seed=3)
    np.testing.assert_array_equal(a, gen.sample_coefficients("ttbar", 400, seed=3))
    assert not np.array_equal(a, gen.sample_coefficients("ttbar", 400, seed=4))
    mean_t, mean_q = z[types == "ttbar"].mean(axis=0), z[types == "qcd"].mean(axis=0)
    # samples of a type sit at that type's mean, not the other's
    assert np.linalg.norm(a.mean(axis=0) - mean_t) < 0.25 * np.linalg.norm(mean_t - mean_q)
    np.testing.assert_allclose(np.cov(a, rowvar=False), np.cov(z[types == "ttbar"], rowvar=False),
                               atol=0.25 * np.abs(np.cov(z[types == "ttbar"], rowvar=False)).max())
    jets = gen.sample("qcd", 3, seed=1)
    assert len(jets) == 3 and all(isinstance(h, HitsType) for h in jets)
    binned = GaussianPCAGenerator(pca, norm, pt_edges=[0, 600, 1e5]).fit(z, types, generated_jets.pt[:60])
    assert {b for _, b in binned.gaussians} <= {0, 1}
    with pytest.raises(ConfigError):
        gen.sample("gluon", 2, seed=0)
    with pytest.raises(InvalidInput):
        jet_type_names(np.array([1, 0, 3]))


def test_reconstruction_baselines_entry_point(generated_jets) -> None:
    g = _graphs(generated_jets.images[:30], max_nodes=400)
    train = {"features": g["features"], "mask": g["mask"]}
    res = evaluate_reconstruction_baselines(train, train, latent_size=29)
    f, m = g["features"], g["mask"]
    sub_curl = float(np.max(np.sum(f[..., 2] * m * ((f[..., 3] == geometry.TRACK) & (f[..., 2] < DetectorConfig().curl_pt)),
                                   axis=1)))
    for name in ("latent_only_pca", "true_mask_pca"):
        b = res["baselines"][name]
        assert set(b["emd"]) == {"track", "ecal", "hcal", "all"}
        assert {"median", "q16", "q84"} <= set(b["emd"]["all"])
        assert "n_hits_ecal" in b["observables"] and "mass_calo" in b["observables"]
        # jets of the training set with n - 1 components come back exactly (the latent-only PCA up to the real
        # tracks below the curling pT that gvae.model.snap drops: the EMD of a missing hit is its energy)
        assert b["emd"]["all"]["q95"] < 1e-3 + (sub_curl if name == "latent_only_pca" else 0.0)
        assert b["observables"]["mass_calo"]["response"]["median"] == pytest.approx(1.0, abs=1e-4)
    assert res["baselines"]["true_mask_pca"]["label"].startswith("PCA given the true mask")
    small = evaluate_reconstruction_baselines({"features": g["features"][:20], "mask": g["mask"][:20]},
                                              {"features": g["features"][20:], "mask": g["mask"][20:]}, latent_size=3)
    assert small["baselines"]["latent_only_pca"]["emd"]["all"]["median"] > 1.0
    assert small["emd_per_jet"]["latent_only_pca"].shape == (10, 4)
    with pytest.raises(InvalidInput):
        evaluate_reconstruction_baselines({"features": g["features"]}, train, 3)
    with pytest.raises(ConfigError):
        evaluate_reconstruction_baselines(train, train, 0)


def test_hits_from_decoder_sets() -> None:
    xyz = torch.tensor([[[0.4 * P, 0.0, 2.0], [0.1 * P, 0.0, 1.0], [0.0, 0.0, 50.0]],
                        [[0.0, 0.0, 0.5], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]])
    channel = torch.tensor([[1, 1, 0], [2, 2, 0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    jets = hits_from_sets(xyz, channel, mask)
    assert len(jets) == 2
    np.testing.assert_allclose(_sorted(jets[0]), [[1, 0, 0, 3.0]])  # masked hit ignored, same pixel summed
    np.testing.assert_allclose(_sorted(jets[1]), [[2, 0, 0, 3.5]])  # same HCAL tower summed, above threshold
    raw = hits_from_sets(xyz, channel, mask, snap_to_detector=False)
    assert len(raw[0]) == 2 and raw[0].x[0] == pytest.approx(0.4 * P)
    bad = xyz.clone()
    bad[1, 0, 2] = -1.0
    with pytest.raises(InvalidInput, match="jet 1"):
        hits_from_sets(bad, channel, mask)
