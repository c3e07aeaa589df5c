"""`python -m gvae.evaluate` with the generation figures switched on: evaluated on 40 jets of the
fixture's train split (its 12 test jets are too few per type), so the Gaussian-PCA generator is scored
against held-out jets of both types with truth floors."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gvae.evaluate.__main__ import main
from gvae.evaluate.report import REPORT_SCHEMA


@pytest.mark.slow
def test_evaluate_cli_writes_generation_figures_with_floors(tmp_path: Path, graph_dataset: Path,
                                                            trained_checkpoint: Path, capsys) -> None:
    out = tmp_path / "eval"
    rc = main(["--checkpoint", str(trained_checkpoint), "--data", str(graph_dataset), "--out", str(out),
               "--split", "train", "--max-jets", "40", "--batch-size", "8", "--workers", "1", "--displays", "0",
               "--seed", "3"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    gen = report["generation"]
    assert set(gen["types"]) == {"ttbar", "qcd"}
    for t, entry in gen["types"].items():
        s = entry["samples"]["gaussian_pca"]
        assert entry["n_jets"] >= 5
        for fig in ("fpd", "kpd", "auc"):
            assert s[fig]["value"] is not None and s[fig]["floor"] is not None
        assert s["w1"]["mass_calo"]["floor"] > 0
        assert f"generation_{t}_gallery_gaussian_pca.png" in report["plots"]
        assert (out / f"generation_{t}_distributions.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "report.md").read_text()
    assert "## Generation vs held-out Pythia jets" in md and "### ttbar:" in md and "| gaussian_pca |" in md
    printed = capsys.readouterr().out
    assert "generation ttbar gaussian_pca (" in printed and "FPD" in printed and "PCA, latent only" in printed
    # --no-generation leaves the section out; the latent-only PCA reconstruction stays
    rc = main(["--checkpoint", str(trained_checkpoint), "--data", str(graph_dataset), "--out", str(tmp_path / "e2"),
               "--split", "train", "--max-jets", "40", "--workers", "1", "--no-plots", "--no-generation"])
    report2 = json.loads((tmp_path / "e2" / "report.json").read_text())
    assert rc == 0 and "generation" not in report2
    assert "latent_only_pca" in report2["reconstruction_baselines"]["models"]
