"""Pieces of the evaluation that need no trained model: display rendering, physical inversion of
reconstructions, report schema on a hand-made report."""
from __future__ import annotations

import copy

import jsonschema
import numpy as np
import pytest

from gvae import geometry
from gvae.errors import DataError
from gvae.evaluate.emd import EMD_CHANNELS
from gvae.evaluate.hits import hits_from_features, hits_from_reconstruction
from gvae.jets import Hits
from gvae.evaluate.observables import OBSERVABLES, RADIAL_EDGES, compare, summary
from gvae.evaluate.plots import render
from gvae.evaluate.report import REPORT_SCHEMA, SCHEMA_VERSION, markdown, validate, write_json
from gvae.evaluate.run import MAX_NODE_ENERGY, _to_physical
from gvae.graphs.normalisation import Normalisation


def test_render_follows_the_image_convention() -> None:
    px = geometry.PIXEL_SIZE
    hits = Hits.at(x=[(70 - 62) * px, (72 - 62) * px], y=[(50 - 62) * px, (57 - 62) * px],
                energy=[3.0, 50.0], channel=[geometry.ECAL, geometry.HCAL])
    img = render(hits)
    assert img.shape == (3, 125, 125)
    assert img[geometry.ECAL, 70, 50] == pytest.approx(3.0)
    # HCAL tower (14, 11) covers pixels 70..74 x 55..59, each holding E / 25
    np.testing.assert_allclose(img[geometry.HCAL, 70:75, 55:60], 2.0)
    assert img.sum() == pytest.approx(53.0)


def test_hits_keep_the_input_channel() -> None:
    features = np.array([[0.1, 0.2, 5.0, 2.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    mask = np.array([True, True, False])
    orig = hits_from_features(features, mask)
    reco = hits_from_reconstruction(np.array([[0.11, 0.2, 4.0], [0.0, 0.01, 2.0], [9.0, 9.0, 9.0]]),
                                    features[:, 3], mask)
    assert len(orig) == len(reco) == 2
    np.testing.assert_array_equal(reco.channel, [2, 0])
    np.testing.assert_allclose(reco.energy, [4.0, 2.0])


def test_to_physical_inverts_and_clamps() -> None:
    norm = Normalisation(0.01, 0.2, -0.02, 0.3, 1.0, 1.5)
    mask = np.array([[True, True, False]])
    out = np.array([[[0.5, -1.0, 0.2], [0.0, 0.0, 100.0], [0.0, 0.0, 0.0]]])
    phys, clamped = _to_physical(norm, out, mask)
    assert clamped == 1
    assert phys[0, 0] == pytest.approx([0.01 + 0.5 * 0.2, -0.02 - 0.3, np.exp(1.0 + 0.2 * 1.5)], rel=1e-6)
    assert phys[0, 1, 2] == pytest.approx(MAX_NODE_ENERGY, rel=1e-6)
    np.testing.assert_array_equal(phys[0, 2], 0.0)
    with pytest.raises(DataError):
        _to_physical(norm, np.full((1, 3, 3), np.nan), mask)


def _minimal_report() -> dict:
    s = summary(np.array([1.0, 2.0, 3.0]))
    cmp = compare(np.array([1.0, 2.0]), np.array([1.5, 2.0]))
    return {
        "schema_version": SCHEMA_VERSION, "created_utc": "2026-01-01T00:00:00+00:00", "gvae_version": "0.1.0",
        "checkpoint": {"path": "c.pt", "sha256": "0" * 64, "latent": {"clusters": 2, "dim": 3, "size": 6}},
        "data": {"path": "d", "split": "test", "n_jets": 2, "max_nodes": 8, "k": 2, "mean_n_nodes": 5.0,
                 "mean_dropped_energy_fraction": 0.0, "jet_eta": "assumed 0 (not in the shards)"},
        "settings": {"emd_R": 0.8, "hit_threshold_gev": 1.0, "noise": "zero", "radial_edges": RADIAL_EDGES.tolist()},
        "baseline": {"method": "pca", "requested_components": 6, "components": 6, "training_jets": 10,
                     "data_rank": 9, "rank_limited": False, "explained_variance_fraction": 0.9},
        "emd": {"channels": list(EMD_CHANNELS), "unit": "GeV", "gvae": {c: s for c in EMD_CHANNELS},
                "baseline": {c: s for c in EMD_CHANNELS}, "gvae_better_fraction": {c: 0.5 for c in EMD_CHANNELS},
                "better_by_median": {c: "tie" for c in EMD_CHANNELS}},
        "observables": {n: {"description": d, "gvae": cmp, "baseline": cmp} for n, d in OBSERVABLES.items()},
        "radial_profile": {"edges": RADIAL_EDGES.tolist(), "original": [0.1] * 9, "gvae": [0.1] * 9,
                           "baseline": [0.1] * 9},
        "timing_s": {"emd": 1.0}, "plots": [], "notes": ["n"],
    }


def test_report_schema_accepts_a_complete_report_and_rejects_broken_ones(tmp_path) -> None:
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)
    report = _minimal_report()
    validate(report)
    write_json(report, tmp_path / "report.json")  # NaN-free round trip
    text = markdown(report)
    assert "| ecal | GVAE |" in text and "energy_total" in text
    for mutate in (lambda r: r.pop("emd"),
                   lambda r: r["emd"]["gvae"].pop("hcal"),
                   lambda r: r["observables"].pop("mass_calo"),
                   lambda r: r["settings"].__setitem__("noise", "sampled"),
                   lambda r: r["emd"]["gvae"]["all"].__setitem__("median", "small"),
                   lambda r: r["checkpoint"].__setitem__("sha256", "xyz")):
        broken = copy.deepcopy(report)
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_undefined_statistics_become_null(tmp_path) -> None:
    report = _minimal_report()
    report["observables"]["energy_track"]["gvae"] = compare(np.zeros(3), np.ones(3))  # response undefined
    path = write_json(report, tmp_path / "report.json")
    import json

    data = json.loads(path.read_text())
    assert data["observables"]["energy_track"]["gvae"]["response"]["median"] is None
    assert data["observables"]["energy_track"]["gvae"]["n_response_undefined"] == 3
