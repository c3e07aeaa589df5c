"""``python -m gvae.evaluate`` on a latent-decoder checkpoint (gvae.evaluate.latent): both uses of the model,
reconstruction through the latent beside its baselines and generation from the prior beside the Gaussian-PCA
generator and the truth floors; the one latent-only PCA snapped like the GVAE."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gvae import geometry
from gvae.data.detector import DetectorConfig
from gvae.evaluate.latent_pca import LatentOnlyPCA, NODE_DIM, decoded_hits
from gvae.graphs.normalisation import Normalisation
from gvae.model import load_model


@pytest.fixture(scope="module")
def graphs(latent_graphs) -> Path:
    """The shared tiny latent-study graphs (64 train / 24 val / 40 test, ``fixtures_model``)."""
    return latent_graphs


@pytest.fixture(scope="module")
def checkpoints(latent_paper_checkpoints) -> dict[str, Path]:
    """best.pt of a tiny latent-decoder GVAE (prior fitted with the defaults) and of a paper-decoder one,
    shared with the other latent tests (``fixtures_model``): tests write copies, never these files."""
    return latent_paper_checkpoints


def _script(name: str):
    """Import scripts/<name>.py as a module."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_latent_only_pca_is_snapped_by_the_gvae_snapping_code() -> None:
    """PCA jets go through gvae.model.snap like the GVAE's: tracks below the curling pT are dropped,
    HCAL hits land on tower centres."""
    norm = Normalisation(0.0, 1.0, 0.0, 1.0, 0.0, 1.0)
    pca = LatentOnlyPCA(1)
    pca.mean = np.zeros(3 * NODE_DIM)
    pca.components = np.zeros((1, 3 * NODE_DIM))
    curl = DetectorConfig().curl_pt
    v = pca.mean.reshape(3, NODE_DIM)
    v[0] = [0.0, 0.0, np.log(0.5 * curl), 1, 0, 0, 1]        # track below the curling pT
    v[1] = [0.0, 0.0, np.log(5.0), 0, 1, 0, 1]               # ECAL hit at the centre
    v[2] = [3 * geometry.PIXEL_SIZE, 0.0, np.log(9.0), 0, 0, 1, 1]  # HCAL, pixel 65 -> tower centre 67
    dec = pca.decode_set(np.zeros((1, 1)))
    assert dec.counts.tolist() == [[1, 1, 1]]
    hits = pca.decode(np.zeros((1, 1)), norm)[0]
    np.testing.assert_array_equal(np.sort(hits.channel), [1, 2])
    hcal = hits.select(geometry.HCAL)
    assert hcal.x[0] == pytest.approx(5 * geometry.PIXEL_SIZE)
    assert decoded_hits(dec, norm)[0].energy.sum() == pytest.approx(hits.energy.sum())


def test_generation_from_the_prior_is_seeded_and_follows_the_conditions(checkpoints) -> None:
    from gvae.evaluate.latent import generate_from_prior

    loaded = load_model(checkpoints["latent"])
    norm = Normalisation.from_dict(loaded.normalisation)
    label, pt = np.array([1, 0, 1, 0, 1], np.float32), np.full(5, 500.0)
    a = generate_from_prior(loaded.model, loaded.prior, norm, label, pt, seed=4, chunk=2)
    b = generate_from_prior(loaded.model, loaded.prior, norm, label, pt, seed=4, chunk=2)
    c = generate_from_prior(loaded.model, loaded.prior, norm, label, pt, seed=5, chunk=2)
    assert len(a) == 5
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.energy, y.energy)
    assert any(len(x) != len(y) or not np.array_equal(x.energy, y.energy) for x, y in zip(a, c))
    # the decoded latent is the prior's for these conditions: z of type 1 differs from type 0 at the same noise
    noise = torch.randn(1, loaded.prior.dim, generator=torch.Generator().manual_seed(4))
    z1 = loaded.prior.sample(torch.tensor([1.0]), torch.tensor([500.0]), noise)
    z0 = loaded.prior.sample(torch.tensor([0.0]), torch.tensor([500.0]), noise)
    assert not torch.equal(z0, z1)


@pytest.mark.slow
def test_evaluate_reports_reconstruction_and_generation_with_floors(checkpoints, graphs, tmp_path, capsys) -> None:
    from gvae.evaluate.__main__ import main

    out = tmp_path / "eval"
    assert main(["--checkpoint", str(checkpoints["latent"]), "--data", str(graphs), "--out", str(out), "--workers", "1",
                 "--compare-checkpoint", str(checkpoints["paper"]), "--seed", "2", "--displays", "1"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["schema_version"] == "latent-2"
    models = report["reconstruction_baselines"]["models"]
    assert list(models) == ["gvae", "latent_pca", "true_mask_pca", "paper", "other_jet"]
    for m in models.values():
        assert {"median", "q16", "q84"} <= set(m["emd"]["all"])
        assert m["observables"]["mass_calo"]["response"]["median"] is not None
    assert "given the true mask" in models["true_mask_pca"]["label"]
    # the true-mask PCA reads the true channels and count: its hit counts equal the originals'
    assert report["counts"]["true_mask_pca"] == pytest.approx(report["counts"]["original"])
    gen = report["generation"]
    assert set(gen["types"]) == {"qcd", "ttbar"}
    for entry in gen["types"].values():
        assert entry["n_jets"] == 10  # 20 test jets per type, split into two halves
        # the two generators and the two reconstruction ceilings (floor-half jets through each model)
        assert set(entry["samples"]) == {"gvae", "gaussian_pca", "gvae_reconstruction", "latent_pca_reconstruction"}
        for s in entry["samples"].values():
            assert s["fpd"]["floor"] == entry["floor"]["fpd"]["value"]
            assert s["w1"]["mass_calo"]["floor"] == entry["floor"]["w1"]["mass_calo"]
            assert 0.0 <= s["auc"]["value"] <= 1.0
    md = (out / "report.md").read_text()
    assert "truth floor" in md and "random other jet" in md and "paper-decoder GVAE" in md
    assert "covariance chosen on held-out latents" in md
    assert set(report["prior"]["covariance"]) == {"qcd", "ttbar"}
    sel = report["prior"]["heldout_loglik_per_jet"]
    if report["prior"]["criterion"] == "loglik":          # the chosen candidate is the best by its criterion
        assert sel["0:chosen"] == max(v for k, v in sel.items() if k.startswith("0:") and "frechet" not in k)
    else:
        assert sel["0:chosen:frechet"] == min(v for k, v in sel.items() if k.startswith("0:") and k.endswith("frechet"))
    for png in ("emd_histograms.png", "event_display_0.png", "generation_ttbar_distributions.png",
                "generation_qcd_gallery_gvae.png", "generation_qcd_average_images.png"):
        assert (out / png).is_file(), png
    assert "generation ttbar gvae" in printed and "floor" in printed
    per_jet = np.genfromtxt(out / "per_jet.csv", delimiter=",", names=True)
    assert len(per_jet) == 40

    # `make demo` prints these figures with their floors (scripts/demo_summary.py)
    lines = "\n".join(_script("demo_summary").evaluation_lines(report))
    for t in ("qcd", "ttbar"):
        for name in ("gvae", "gaussian_pca"):
            s = report["generation"]["types"][t]["samples"][name]
            assert f"FPD {s['fpd']['value']:.3g} (floor {s['fpd']['floor']:.3g}" in lines
    assert "random other jet" in lines and "PCA, latent only" in lines

    # the latent study's one markdown of tables (scripts/latent_study_tables.py)
    study = tmp_path / "study"
    (study / "graphs").mkdir(parents=True)
    (study / "graphs" / "dataset.json").write_text((graphs / "dataset.json").read_text())
    (study / "eval_ld4").mkdir()
    for f in ("report.json", "report.md"):
        (study / "eval_ld4" / f).write_text((out / f).read_text())
    (study / "run_ld4").mkdir()
    (study / "run_ld4" / "summary.json").write_text((checkpoints["latent"].parent / "summary.json").read_text())
    (study / "commands.txt").write_text("python -m gvae.train ...\n")
    assert _script("latent_study_tables").main([str(study), "--latents", "4", "--commands", str(study / "commands.txt"),
                                                 "--md", str(study / "study.md")]) == 0
    md = (study / "study.md").read_text()
    g = report["emd"]["gvae"]["all"]["median"]
    assert f"| 50 x 4 | 24 |" in md and f"{g:.3g}" in md
    assert "| 50 x 4 | qcd | 10 | gvae |" in md and "| 50 x 4 | ttbar | 10 | gaussian_pca |" in md
    assert "python -m gvae.train" in md and "Full report, latent 50 x 4" in md


_BASE_SEED1 = ["--workers", "1", "--no-plots", "--seed", "1"]


@pytest.fixture(scope="module")
def full_run_seed1(checkpoints, graphs, tmp_path_factory) -> Path:
    """Output directory of a full evaluation of the latent checkpoint (seed 1, no plots)."""
    from gvae.evaluate.__main__ import main

    out = tmp_path_factory.mktemp("eval_latent_full_seed1")
    assert main(["--checkpoint", str(checkpoints["latent"]), "--data", str(graphs), "--out", str(out),
                 *_BASE_SEED1]) == 0
    return out


@pytest.mark.slow
def test_evaluate_is_reproducible_and_compare_checkpoint_is_checked(checkpoints, graphs, tmp_path,
                                                                    full_run_seed1) -> None:
    from gvae.evaluate.__main__ import main

    base = ["--data", str(graphs), *_BASE_SEED1]
    a, b = full_run_seed1, tmp_path / "b"
    assert main(["--checkpoint", str(checkpoints["latent"]), "--out", str(b), *base]) == 0
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (a, b))
    assert ra["emd"] == rb["emd"]
    assert ra["generation"]["types"]["qcd"]["samples"] == rb["generation"]["types"]["qcd"]["samples"]
    # a latent checkpoint given as the paper comparison, and a comparison for a paper checkpoint: exit 2
    assert main(["--checkpoint", str(checkpoints["latent"]), "--out", str(tmp_path / "c"), *base,
                 "--compare-checkpoint", str(checkpoints["latent"])]) == 2
    assert main(["--checkpoint", str(checkpoints["paper"]), "--out", str(tmp_path / "d"), *base,
                 "--compare-checkpoint", str(checkpoints["paper"])]) == 2


def test_help_documents_the_compare_flags() -> None:
    from gvae.evaluate.__main__ import build_parser

    text = build_parser().format_help()
    assert "--compare-checkpoint" in text and "--compare-data" in text and "truth floor" in text
    assert "--generation-only" in text and "Excludes" in text


@pytest.mark.slow
def test_generation_only_writes_the_full_runs_generation_section_and_no_reconstruction(
        checkpoints, graphs, tmp_path, full_run_seed1, capsys) -> None:
    """--generation-only: the same generation figures (floors, ceilings, prior) as the full run with the same
    seed, and no reconstruction EMD table, per-jet EMDs or reconstruction plots."""
    from gvae.evaluate.__main__ import main

    out = tmp_path / "gen"
    assert main(["--checkpoint", str(checkpoints["latent"]), "--data", str(graphs), "--out", str(out), "--generation-only",
                 *_BASE_SEED1]) == 0
    printed = capsys.readouterr().out
    gen = json.loads((out / "report.json").read_text())
    full = json.loads((full_run_seed1 / "report.json").read_text())
    assert gen["mode"] == "generation-only" and full["mode"] == "full"
    assert gen["emd"] is None and gen["reconstruction_baselines"] is None and gen["true_mask_baseline"] is None
    assert "emd" not in gen["timing_s"] and "emd" in full["timing_s"]
    for entry in gen["generation"]["types"].values():
        assert set(entry["samples"]) == {"gvae", "gaussian_pca", "gvae_reconstruction", "latent_pca_reconstruction"}
    assert set(gen["generation"]["types"]) == {"qcd", "ttbar"}
    assert gen["generation"]["types"] == full["generation"]["types"]
    assert gen["prior"] == full["prior"]
    md = (out / "report.md").read_text()
    full_md = (full_run_seed1 / "report.md").read_text()
    assert "## Generation vs held-out Pythia jets" in md and "truth floor" in md
    assert "--generation-only" in md
    # the reconstruction section of the full report (EMD table with its random-other-jet row) is absent
    assert "## Reconstruction at" in full_md and "random other jet" in full_md
    assert "## Reconstruction at" not in md and "random other jet" not in md and "EMD [GeV]" not in md
    assert not (out / "per_jet.csv").exists()
    assert "generation ttbar gvae" in printed and "median EMD" not in printed


def test_generation_only_is_refused_where_it_cannot_run(checkpoints, graphs, tmp_path, caplog) -> None:
    """Exit 2 and one line: --generation-only with --no-generation, with --compare-checkpoint, on a
    paper-decoder checkpoint (it cannot generate), on a latent checkpoint without a prior."""
    from gvae.evaluate.__main__ import main
    from gvae.train.checkpoint import save_checkpoint
    from gvae.model.io import read_checkpoint

    no_prior = tmp_path / "no_prior.pt"
    ckpt = read_checkpoint(checkpoints["latent"])
    ckpt.pop("prior")
    save_checkpoint(no_prior, {k: v for k, v in ckpt.items() if k not in ("format", "gvae_version")})
    base = ["--data", str(graphs), "--out", str(tmp_path / "out"), "--workers", "1", "--no-plots"]
    cases = [(["--checkpoint", str(checkpoints["latent"]), "--generation-only", "--no-generation"], "--no-generation"),
             (["--checkpoint", str(checkpoints["latent"]), "--generation-only", "--compare-checkpoint",
               str(checkpoints["paper"])], "--compare-checkpoint"),
             (["--checkpoint", str(checkpoints["paper"]), "--generation-only"], str(checkpoints["paper"])),
             (["--checkpoint", str(no_prior), "--generation-only"], str(no_prior))]
    for args, named in cases:
        caplog.clear()
        assert main([*args, *base]) == 2, args
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and errors[0].startswith("ConfigError: ") and named in errors[0], errors
        assert "\n" not in errors[0]
    assert not (tmp_path / "out" / "report.json").exists()
