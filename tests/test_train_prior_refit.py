"""``python -m gvae.train --fit-prior-only`` and the ``prior`` config section: refitting the conditional
prior p(z | type, pT) of an existing checkpoint reproduces the fit at the end of training bit for bit with
the defaults, follows a forced covariance or the Frechet criterion (recorded in the checkpoint), never
touches the input checkpoint unless told, and refuses bad input with exit 2 and one line."""
from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from fixtures_model import train_tiny
from gvae.errors import ConfigError
from gvae.model import load_model
from gvae.train.config import load_config


@pytest.fixture(scope="module")
def graphs(latent_graphs) -> Path:
    """The shared tiny latent-study graphs (64 train / 24 val / 40 test, ``fixtures_model``)."""
    return latent_graphs


@pytest.fixture(scope="module")
def checkpoints(latent_paper_checkpoints) -> dict[str, Path]:
    """best.pt of a tiny latent-decoder GVAE (prior fitted with the defaults) and of a paper-decoder one,
    shared with the other latent tests (``fixtures_model``): tests write copies, never these files."""
    return latent_paper_checkpoints


def _refit(*args: str) -> int:
    from gvae.train.__main__ import main

    return main(["--fit-prior-only", "--threads", "1", *args])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same_prior(a, b) -> bool:
    """Every fitted array bit-identical, and the same choices and held-out numbers."""
    arrays = all(np.array_equal(getattr(a, t)[k], getattr(b, t)[k]) for t in ("mean", "slope", "chol", "pt_quantiles")
                 for k in a.chol) and set(a.chol) == set(b.chol)
    return arrays and a.covariance == b.covariance and a.selection == b.selection and a.criterion == b.criterion


def test_refit_with_the_defaults_reproduces_the_training_fit_bit_for_bit(checkpoints, graphs, tmp_path) -> None:
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(checkpoints["latent"].read_bytes())
    before = _sha(ckpt)
    assert _refit("--checkpoint", str(ckpt), "--data", str(graphs)) == 0
    copy = tmp_path / "best_prior.pt"                       # the default output: a copy beside the input
    assert copy.is_file() and _sha(ckpt) == before          # the input checkpoint is untouched
    trained, refit = load_model(ckpt).prior, load_model(copy).prior
    assert _same_prior(trained, refit)
    assert refit.fit_info["covariance"] == "auto" and refit.fit_info["criterion"] == "loglik"
    assert refit.fit_info["n_train"] == 64 and refit.fit_info["n_val"] == 24
    # the rest of the checkpoint is carried over: same weights
    a, b = load_model(ckpt).model.state_dict(), load_model(copy).model.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    # --in-place rewrites the input, with the same prior again
    assert _refit("--checkpoint", str(ckpt), "--data", str(graphs), "--in-place") == 0
    assert _same_prior(trained, load_model(ckpt).prior)


def test_a_forced_covariance_or_the_frechet_criterion_changes_the_prior_and_is_recorded(checkpoints, graphs,
                                                                                        tmp_path) -> None:
    default = load_model(checkpoints["latent"]).prior
    forced = next(c for c in ("factor_4", "shrink_1.0", "oas") if c not in default.covariance.values())
    assert _refit("--checkpoint", str(checkpoints["latent"]), "--data", str(graphs), "--prior-covariance", forced,
                  "--out", str(tmp_path / "forced.pt")) == 0
    p = load_model(tmp_path / "forced.pt").prior
    assert set(p.covariance.values()) == {forced} and p.fit_info["covariance"] == forced
    assert all(not np.array_equal(p.chol[k], default.chol[k]) for k in p.chol)
    assert all(np.array_equal(p.mean[k], default.mean[k]) for k in p.chol)      # only the covariance changes
    assert p.selection[f"0:{forced}"] == default.selection[f"0:{forced}"]    # same held-out numbers

    assert _refit("--checkpoint", str(checkpoints["latent"]), "--data", str(graphs), "--set", "prior.criterion=frechet",
                  "--out", str(tmp_path / "frechet.pt")) == 0
    f = load_model(tmp_path / "frechet.pt").prior
    assert f.criterion == "frechet" and f.fit_info["criterion"] == "frechet"
    for k in f.chol:                                   # each type's choice: the smallest Frechet distance
        frechet = {key.split(":")[1]: v for key, v in f.selection.items()
                   if key.startswith(f"{k}:") and key.endswith(":frechet") and ":chosen" not in key}
        assert f.covariance[k] == min(frechet, key=frechet.get)
    assert f.covariance != default.covariance           # on these latents the two criteria disagree
    assert any(not np.array_equal(f.chol[k], default.chol[k]) for k in f.chol)

    assert _refit("--checkpoint", str(checkpoints["latent"]), "--data", str(graphs), "--prior-max-jets", "40",
                  "--out", str(tmp_path / "fewer.pt")) == 0
    few = load_model(tmp_path / "fewer.pt").prior
    assert few.fit_info["n_train"] == 40 and sum(few.n_train.values()) == 40

    # mixture components: auto gives one Gaussian on 32 jets per type (50 per component needed), forced 2 two
    assert all(default.components(k) == 1 for k in default.chol) and default.fit_info["components"] == "auto"
    assert _refit("--checkpoint", str(checkpoints["latent"]), "--data", str(graphs), "--prior-components", "2",
                  "--out", str(tmp_path / "two.pt")) == 0
    two = load_model(tmp_path / "two.pt").prior
    assert all(two.components(k) == 2 for k in two.chol) and two.fit_info["components"] == 2
    assert all(np.array_equal(two.chol[k], default.chol[k]) for k in two.chol)   # the Gaussian it refines
    assert all(f"mixture:{k}:2" in two.selection for k in two.chol)


def test_training_takes_the_prior_settings_from_the_config(graphs, tmp_path) -> None:
    assert load_config("configs/demo.yaml", ["prior.criterion=frechet"]).prior.criterion == "frechet"
    assert load_config("configs/demo.yaml").prior.covariance == "auto"
    with pytest.raises(ConfigError, match="prior.covariance"):
        load_config(None, ["prior.covariance=factor_3"])
    best = train_tiny(tmp_path, graphs, "latent", "--prior-covariance", "shrink_1.0", "--set", "prior.criterion=frechet")
    prior = load_model(best).prior
    assert set(prior.covariance.values()) == {"shrink_1.0"} and prior.criterion == "frechet"
    assert prior.fit_info["covariance"] == "shrink_1.0"
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["prior"]["covariance"] == "shrink_1.0"


@pytest.mark.parametrize("case", ["missing checkpoint", "paper decoder", "unknown covariance", "factor above latent",
                                  "training flag", "too many components"])
def test_bad_input_exits_2_with_one_line_naming_the_file_or_field(case, checkpoints, graphs, tmp_path, caplog) -> None:
    missing = tmp_path / "no such run" / "best.pt"
    args, named = {
        "missing checkpoint": (["--checkpoint", str(missing)], str(missing)),
        "paper decoder": (["--checkpoint", str(checkpoints["paper"])], "model.decoder"),
        "unknown covariance": (["--checkpoint", str(checkpoints["latent"]), "--prior-covariance", "diagonal"],
                               "prior.covariance"),
        "factor above latent": (["--checkpoint", str(checkpoints["latent"]), "--prior-covariance", "factor_32"],
                                "prior.covariance"),
        "training flag": (["--checkpoint", str(checkpoints["latent"]), "--epochs", "2"], "--epochs"),
        "too many components": (["--checkpoint", str(checkpoints["latent"]), "--prior-components", "9"],
                                "prior.components"),
    }[case]
    out = tmp_path / "out.pt"
    caplog.set_level(logging.INFO)
    assert _refit(*args, "--data", str(graphs), "--out", str(out)) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and named in errors[0] and "\n" not in errors[0], errors
    if case == "paper decoder":
        assert str(checkpoints["paper"]) in errors[0]
    assert not out.exists()


def test_the_command_line_refuses_a_paper_checkpoint_in_one_line(checkpoints, graphs, tmp_path) -> None:
    """As a real process (what reaches the terminal): exit 2, one ConfigError line, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "gvae.train", "--fit-prior-only", "--checkpoint",
                           str(checkpoints["paper"]), "--data", str(graphs), "--out", str(tmp_path / "x.pt")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "ConfigError: " in line]
    assert len(lines) == 1 and "model.decoder" in lines[0] and str(checkpoints["paper"]) in lines[0], proc.stderr


def test_help_documents_every_prior_flag() -> None:
    from gvae.train.__main__ import build_parser

    text = build_parser().format_help()
    for flag in ("--fit-prior-only", "--checkpoint", "--in-place", "--prior-criterion", "--prior-covariance",
                 "--prior-max-jets", "--prior-components", "factor_16", "ledoit_wolf", "_prior"):
        assert flag in text, flag
