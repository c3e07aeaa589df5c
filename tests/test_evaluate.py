"""`python -m gvae.evaluate` end to end on the real fixtures: ``graph_dataset`` (graphs of generated
jets, tests/fixtures_graphs.py) and ``trained_checkpoint`` (a tiny GVAE trained on them,
tests/fixtures_model.py)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import torch

from gvae.evaluate.__main__ import build_parser, main
from gvae.evaluate.emd import EMD_CHANNELS, event_emds
from gvae.evaluate.hits import hits_from_features, hits_from_reconstruction
from gvae.evaluate.report import REPORT_SCHEMA
from gvae.model import InferenceModel, load_model
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.shards import GraphShards, collate, model_inputs

MAX_JETS = 12


def _dataset_dir(graph_dataset: Any) -> Path:
    """The shard directory of the ``graph_dataset`` fixture (a path, or an object holding one)."""
    if isinstance(graph_dataset, (str, os.PathLike)):
        return Path(graph_dataset)
    for attr in ("out_dir", "path", "directory", "root"):
        if hasattr(graph_dataset, attr):
            return Path(getattr(graph_dataset, attr))
    return Path(graph_dataset)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory, graph_dataset: Any, trained_checkpoint: Path
               ) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("evaluation")
    data = _dataset_dir(graph_dataset)
    rc = main(["--checkpoint", str(trained_checkpoint), "--data", str(data), "--out", str(out),
               "--max-jets", str(MAX_JETS), "--batch-size", "5", "--workers", "2", "--displays", "1"])
    return {"rc": rc, "out": out, "data": data, "checkpoint": trained_checkpoint,
            "report": json.loads((out / "report.json").read_text())}


def test_report_follows_the_schema(evaluation: dict[str, Any]) -> None:
    assert evaluation["rc"] == 0
    report = evaluation["report"]
    jsonschema.validate(report, REPORT_SCHEMA)
    n_test = len(GraphShards(evaluation["data"], "test"))
    assert report["data"]["n_jets"] == min(MAX_JETS, n_test)
    assert report["emd"]["channels"] == list(EMD_CHANNELS)
    assert report["settings"]["noise"] == "zero"


def test_baseline_has_the_gvae_latent_size(evaluation: dict[str, Any]) -> None:
    loaded = load_model(evaluation["checkpoint"])
    c, l = loaded.model.latent_shape
    report = evaluation["report"]
    assert report["checkpoint"]["latent"] == {"clusters": c, "dim": l, "size": c * l}
    base = report["baseline"]
    n_train = len(GraphShards(evaluation["data"], "train"))
    assert base["requested_components"] == c * l and base["training_jets"] == n_train
    assert base["components"] == min(c * l, base["data_rank"])
    assert base["rank_limited"] == (base["components"] < c * l)
    if base["rank_limited"]:
        assert any("rank-limited" in n for n in report["notes"])


def test_outputs_written(evaluation: dict[str, Any]) -> None:
    out, report = evaluation["out"], evaluation["report"]
    md = (out / "report.md").read_text()
    assert "## EMD per jet [GeV]" in md and "| all | PCA |" in md and "energy_total" in md
    assert "emd_histograms.png" in report["plots"] and "event_display_0.png" in report["plots"]
    assert {"observables.png", "radial_profile.png"} <= set(report["plots"])
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_per_jet_table_matches_report_and_independent_recomputation(evaluation: dict[str, Any]) -> None:
    out, report = evaluation["out"], evaluation["report"]
    with open(out / "per_jet.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == report["data"]["n_jets"]  # no jet dropped
    for model in ("gvae", "baseline"):
        for c in EMD_CHANNELS:
            col = np.array([float(r[f"emd_{model}_{c}"]) for r in rows])
            assert np.median(col) == pytest.approx(report["emd"][model][c]["median"], rel=1e-4)
    # Jet 0 reconstructed here directly with the model (noise = 0) and the checkpoint's normalisation.
    loaded = load_model(evaluation["checkpoint"])
    norm = Normalisation.from_dict(loaded.normalisation)
    shards = GraphShards(evaluation["data"], "test")
    batch = collate([shards[0]])
    features6, neighbours, mask = model_inputs(batch, norm)
    c, l = loaded.model.latent_shape
    with torch.no_grad():
        out6 = InferenceModel(loaded.model)(features6, neighbours, mask, torch.zeros(1, c, l))
    phys = norm.invert(out6.numpy().astype(np.float64), mask.numpy())[0]
    raw = batch["features"][0].numpy()
    m = mask[0].numpy()
    expected = event_emds(hits_from_features(raw, m), hits_from_reconstruction(phys, raw[:, 3], m))
    got = [float(rows[0][f"emd_gvae_{c}"]) for c in EMD_CHANNELS]
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_bad_checkpoint_is_a_clean_error(tmp_path: Path, graph_dataset: Any, caplog: pytest.LogCaptureFixture,
                                         capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "not_a_checkpoint.pt"
    bad.write_bytes(b"garbage")
    rc = main(["--checkpoint", str(bad), "--data", str(_dataset_dir(graph_dataset)), "--out", str(tmp_path / "o"),
               "--no-plots"])
    assert rc == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("ModelLoadError: ") and str(bad) in errors[0], errors
    assert "\n" not in errors[0] and "Traceback" not in caplog.text
    assert not (tmp_path / "o" / "report.json").exists() and "median EMD" not in capsys.readouterr().out


def test_help_documents_every_flag() -> None:
    text = build_parser().format_help()
    for flag in ("--checkpoint", "--data", "--split", "--out", "--max-jets", "--batch-size", "--emd-radius",
                 "--hit-threshold", "--workers", "--displays", "--baseline-max-train", "--no-plots", "--device"):
        assert flag in text


def test_returned_report_is_the_written_one(evaluation: dict[str, Any], tmp_path: Path) -> None:
    from gvae.evaluate.run import Settings, evaluate

    out = tmp_path / "again"
    report = evaluate(Settings(checkpoint=evaluation["checkpoint"], data=evaluation["data"], out=out,
                               max_jets=4, batch_size=4, displays=0, plots=False))
    # built in memory as plain JSON values (strict: no NaN, no numpy types), equal to report.json
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert all(type(v) in (dict, list, str, int, float, bool, type(None)) for v in _leaves(report))
    assert report == json.loads((out / "report.json").read_text())


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value] + [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [value] + [x for v in value for x in _leaves(v)]
    return [value]
