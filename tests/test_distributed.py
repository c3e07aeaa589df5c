"""Real 2-process data-parallel training on CPU (Gloo): Horovod and torchrun.

Both launchers run ``python -m gvae.train`` with 2 processes x 4 jets per batch; the reference is
one process with 8 jets per batch over the same global batches (``RankBatchSampler``: the union
of the ranks' batches is the single-process batch, and the latent noise is a function of the
jet). Every loss term is a mean over the local batch and the gradients are averaged, so the
runs follow the same optimisation; they differ only by float32 summation order.
Tolerance: max |param_2proc - param_1proc| <= 1e-5 after 2 epochs (16 steps); measured ~1e-7.
Both ranks must end with bit-identical parameters (checksums gathered from every rank).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from fixtures_model import tiny_config
from gvae.train.__main__ import main

pytestmark = [pytest.mark.distributed, pytest.mark.slow]
BIN = Path(sys.executable).parent
TOLERANCE = 1e-5


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "HOROVOD_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    return env


def _train_args(config: Path, data: Path, out: Path, batch: int) -> list[str]:
    return ["-m", "gvae.train", "--config", str(config), "--data", str(data), "--out", str(out),
            "--batch-size", str(batch), "--no-progress", "--threads", "1"]


def _run(cmd: list[str], out: Path) -> dict:
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def setup(tmp_path_factory, synthetic_graphs):
    """Config file and the single-process reference run (batch 8)."""
    root = tmp_path_factory.mktemp("distributed")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(48, 4, epochs=2, batch_size=8, lr_reference_batch=8)))
    ref = root / "single"
    threads = torch.get_num_threads()
    try:  # in-process (saves an interpreter start-up); same code path as the CLI
        assert main(_train_args(config, synthetic_graphs, ref, 8)[2:]) == 0
    finally:
        torch.set_num_threads(threads)
    assert json.loads((ref / "summary.json").read_text())["world_size"] == 1
    return config, synthetic_graphs, root, torch.load(ref / "last.pt", weights_only=False)


def _check_against_reference(out: Path, summary: dict, reference: dict, backend: str) -> None:
    assert summary["world_size"] == 2 and summary["backend"] == backend
    consistency = summary["rank_consistency"]
    checksums = consistency["param_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1], "ranks ended with different parameters"
    assert consistency["param_divergence"] == 0.0
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["global_step"] == reference["global_step"] == 16
    assert ckpt["effective_lr"] == pytest.approx(reference["effective_lr"])
    worst = max(float((ckpt["model"][k] - v).abs().max()) for k, v in reference["model"].items())
    assert worst <= TOLERANCE, f"{backend}: max parameter difference to 1 process {worst:.3g}"
    assert not list(out.glob("rank*")), "only rank 0 writes"


def test_torchrun_two_processes_match_single_process(setup):
    config, data, root, reference = setup
    out = root / "torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           *_train_args(config, data, out, 4)]
    summary = _run(cmd, out)
    _check_against_reference(out, summary, reference, "torch")


def test_horovod_two_processes_match_single_process(setup):
    pytest.importorskip("horovod.torch", reason="Horovod is part of the environment (make setup)")
    horovodrun = shutil.which("horovodrun", path=str(BIN)) or shutil.which("horovodrun")
    assert horovodrun, "horovodrun not found next to the Python interpreter"
    config, data, root, reference = setup
    out = root / "horovod"
    cmd = [horovodrun, "--gloo", "-np", "2", "-H", "localhost:2", sys.executable,
           *_train_args(config, data, out, 4)]
    summary = _run(cmd, out)
    _check_against_reference(out, summary, reference, "horovod")
