"""Training switches of the speed work: ``--compile`` (torch.compile) and ``training.flush_denormal``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from fixtures_model import tiny_config
from gvae.train.__main__ import build_parser, main


def _run(tmp_path: Path, data: Path, name: str, *extra: str, **training) -> dict:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config(48, 4, epochs=1, **training)))
    out = tmp_path / name
    assert main(["--config", str(cfg), "--data", str(data), "--out", str(out), "--no-progress",
                 "--threads", "1", *extra]) == 0
    return json.loads((out / "summary.json").read_text())


def test_compile_flag_is_documented_and_sets_the_config(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    assert "--compile" in capsys.readouterr().out


@pytest.mark.slow
def test_compiled_training_follows_the_eager_run(tmp_path, synthetic_graphs) -> None:
    """One epoch through torch.compile gives the eager run's losses (same seed, same batches).

    The ``aot_eager`` backend traces the model (dynamo + AOT autograd, the custom symmetric
    backward included) without invoking a C++ compiler, which takes minutes on a busy 2-core
    machine; ``inductor`` is what ``benchmarks/bench_train_speed.py`` measures."""
    threads = torch.get_num_threads()
    try:
        eager = _run(tmp_path, synthetic_graphs, "eager")
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        compiled = _run(tmp_path, synthetic_graphs, "compiled", "--compile",
                        "--set", "training.compile_backend=aot_eager")
    finally:
        torch.set_num_threads(threads)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1, "nothing was compiled"
    run_cfg = yaml.safe_load((tmp_path / "compiled" / "config.yaml").read_text())
    assert run_cfg["training"]["compile"] is True
    for key in ("loss", "recon", "kl", "mincut", "ortho"):
        assert compiled["final_train"][key] == pytest.approx(eager["final_train"][key], rel=2e-3, abs=1e-5), key
        assert compiled["final_val"][key] == pytest.approx(eager["final_val"][key], rel=2e-3, abs=1e-5), key


def test_denormals_are_flushed_only_while_training(tmp_path, synthetic_graphs, monkeypatch) -> None:
    """fit() turns flushing on for the run and off afterwards; ``flush_denormal: false`` never."""
    calls: list[bool] = []
    real = torch.set_flush_denormal

    def spy(mode: bool) -> bool:
        calls.append(mode)
        return real(mode)
    monkeypatch.setattr(torch, "set_flush_denormal", spy)
    threads = torch.get_num_threads()
    try:
        _run(tmp_path, synthetic_graphs, "flush")
        assert calls[0] is True and calls[-1] is False
        calls.clear()
        _run(tmp_path, synthetic_graphs, "keep", flush_denormal=False)
        assert calls == []
    finally:
        torch.set_num_threads(threads)
    tiny = torch.tensor([1e-40]) * 1.0
    assert tiny.item() != 0.0, "denormals must survive after training"
