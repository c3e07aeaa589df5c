"""Every stage command (``python -m gvae.<stage>``) on bad input: exit code 2 and the typed error as
ONE line naming the file (and row and field where the error has them), never a traceback.

The commands run as real subprocesses, the way a user or a batch job starts them, so the check covers
what reaches the terminal, not what a Python caller catches. :mod:`gvae.cli` is the runner they share.
"""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gvae import cli
from gvae.data.synthetic import synthetic_jets
from gvae.errors import ConfigError, InvalidInput, VerificationError
from gvae.io.parquet import to_table


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)


def _error_lines(proc: subprocess.CompletedProcess, error: str) -> list[str]:
    """The stderr lines that report ``error``; asserts there is no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stderr.splitlines() if f"{error}: " in line]


@pytest.fixture(scope="module")
def bad_parquet(tmp_path_factory) -> Path:
    """Six synthetic jets in parquet, jet (row) 2 with pt = inf."""
    batch = synthetic_jets(6, seed=11)
    pt = batch.pt.copy()
    pt[2] = np.inf
    path = tmp_path_factory.mktemp("cli") / "bad pt.parquet"
    pq.write_table(to_table(batch).set_column(1, "pt", pa.array(pt)), path)
    return path


@pytest.fixture(scope="module")
def garbage_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "not_a_checkpoint.pt"
    path.write_bytes(b"garbage, not a torch file\nsecond line\n")
    return path


@pytest.mark.parametrize("command", ["convert", "inspect", "copy"])
def test_data_bad_row_is_one_line_naming_file_row_field(command, bad_parquet, tmp_path):
    out = {"convert": [str(tmp_path / "graphs")], "inspect": ["--out", str(tmp_path / "inspect")],
           "copy": [str(tmp_path / "copy.h5")]}[command]
    proc = _run("gvae.data", command, str(bad_parquet), *out)
    assert proc.returncode == 2, proc.stderr
    lines = _error_lines(proc, "InvalidInput")
    assert len(lines) == 1, proc.stderr
    assert f"file '{bad_parquet}'" in lines[0] and "row 2" in lines[0] and "field 'pt'" in lines[0], lines[0]


def test_data_generate_bad_config(tmp_path):
    proc = _run("gvae.data", "generate", "--process", "qcd", "--jets", "0", "--seed", "1",
                "--out", str(tmp_path / "x.parquet"))
    assert proc.returncode == 2, proc.stderr
    lines = _error_lines(proc, "ConfigError")
    assert len(lines) == 1 and "--jets must be >= 1" in lines[0], proc.stderr


def test_train_missing_dataset(tmp_path):
    empty = tmp_path / "no graphs here"
    empty.mkdir()
    proc = _run("gvae.train", "--config", "configs/demo.yaml", "--data", str(empty), "--out", str(tmp_path / "run"),
                "--device", "cpu", "--no-progress")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in _error_lines(proc, "DataError")]
    assert len(lines) == 1 and str(empty) in lines[0], proc.stderr


@pytest.mark.parametrize("stage", ["evaluate", "export"])
def test_unreadable_checkpoint(stage, garbage_checkpoint, tmp_path):
    proc = _run(f"gvae.{stage}", "--checkpoint", str(garbage_checkpoint), "--data", str(tmp_path),
                "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    lines = _error_lines(proc, "ModelLoadError")
    assert len(lines) == 1 and str(garbage_checkpoint) in lines[0], proc.stderr


def test_runner_exit_codes_and_one_line(caplog):
    """The runner itself: 0 / None -> 0, VerificationError -> 1, other GvaeError and bad paths -> 2,
    multi-line messages folded into one line, other exceptions (bugs) propagate."""
    assert cli.run_stage("t", lambda: None) == 0 and cli.run_stage("t", lambda: 0) == 0

    def raise_(exc):
        def body():
            raise exc
        return body

    with caplog.at_level(logging.ERROR, logger="t"):
        assert cli.run_stage("t", raise_(VerificationError("differs:\n  case 1\n  case 2"))) == 1
        assert cli.run_stage("t", raise_(InvalidInput("not finite", file="f.parquet", row=3, field="pt"))) == 2
        assert cli.run_stage("t", raise_(ConfigError("training.lr = -1: must be > 0"))) == 2
        assert cli.run_stage("t", raise_(FileNotFoundError(2, "No such file or directory", "x.yaml"))) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["VerificationError: differs:; case 1; case 2",
                        "InvalidInput: file 'f.parquet', row 3, field 'pt': not finite",
                        "ConfigError: training.lr = -1: must be > 0",
                        "FileNotFoundError: [Errno 2] No such file or directory: 'x.yaml'"]
    with pytest.raises(ZeroDivisionError):
        cli.run_stage("t", lambda: 1 / 0)
