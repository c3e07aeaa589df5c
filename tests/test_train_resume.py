"""``python -m gvae.train --resume`` when there is nothing (or nothing usable) to resume from.

Chosen behaviour (documented in ``--help``): with no ``OUT/last.pt`` yet, ``--resume`` starts from
scratch and logs a warning naming the missing file, so a batch script can pass ``--resume`` on every
submission of a time-limited job; the run is then exactly the run without ``--resume``. An existing
but unreadable ``last.pt`` is not silently replaced: it is a ``ModelLoadError`` naming the file
(exit 2), and the file is left as it was. Resuming a real checkpoint is tested in ``test_train.py``
(one process) and ``test_distributed.py`` (torchrun, Horovod).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from fixtures_model import tiny_config
from gvae.train.__main__ import build_parser, main


@pytest.fixture
def one_thread():
    """Train with one intra-op thread (the test machine is shared) and restore afterwards."""
    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


def _args(tmp_path: Path, data: Path, out: Path, *extra: str) -> list[str]:
    config = tmp_path / "tiny.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump(tiny_config(48, 4, epochs=2)))
    return ["--config", str(config), "--data", str(data), "--out", str(out), "--no-progress", "--threads", "1",
            "--set", "data.max_train_jets=32", *extra]


def test_resume_without_a_checkpoint_starts_fresh_and_says_so(tmp_path, synthetic_graphs, one_thread):
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    assert main(_args(tmp_path, synthetic_graphs, fresh)) == 0
    assert main(_args(tmp_path, synthetic_graphs, resumed, "--resume")) == 0
    log = (resumed / "train.log").read_text()
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    assert len(warnings) == 1 and warnings[0].endswith(
        f"--resume: no {resumed / 'last.pt'} yet, starting from scratch"), log
    assert "resumed from" not in log and "--resume" not in (fresh / "train.log").read_text()
    a = torch.load(fresh / "last.pt", weights_only=False)
    b = torch.load(resumed / "last.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 2 and a["global_step"] == b["global_step"] == 8
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    strip = ("seconds", "graphs_per_s", "data_wait_share")
    rows = [[{k: v for k, v in r.items() if not any(s in k for s in strip)}
             for r in json.loads((d / "metrics.json").read_text())] for d in (fresh, resumed)]
    assert len(rows[0]) == 2 and rows[0] == rows[1]


def test_resume_from_an_unreadable_checkpoint_is_a_typed_error(tmp_path, synthetic_graphs, one_thread):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"truncated by a full disk")
    assert main(_args(tmp_path, synthetic_graphs, out, "--resume")) == 2
    errors = [line for line in (out / "train.log").read_text().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "ModelLoadError: checkpoint " in errors[0] and str(out / "last.pt") in errors[0]
    assert (out / "last.pt").read_bytes() == b"truncated by a full disk"
    assert not (out / "summary.json").exists()


def test_help_documents_the_resume_behaviour():
    text = " ".join(build_parser().format_help().split())
    assert "--resume" in text
    assert "when OUT has no last.pt yet, starts from scratch and logs a warning" in text
    assert "an unreadable last.pt is a ModelLoadError (exit 2)" in text
