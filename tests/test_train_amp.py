"""Mixed precision is really on: inside the training step and the validation forward the matrix
products run in bf16 / fp16, and bf16 results differ from fp32 while staying close to them.

``test_train.py`` checks the configuration string, a 10 % band on the loss curves (which identical
curves satisfy) and the GradScaler state; none of that notices autocast being switched off.
The dtype is observed with forward hooks on every ``nn.Linear`` of the model: under autocast its
output has the autocast dtype, without it float32.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from fixtures_model import tiny_config
from gvae.train.config import Config
from gvae.train.loop import RunOptions, Trainer


@pytest.fixture
def one_thread():
    """Train with one intra-op thread (the test machine is shared) and restore afterwards."""
    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


def _trainer(data, out, amp: str, device: str = "cpu") -> Trainer:
    config = Config.from_dict(tiny_config(48, 4, amp=amp))
    return Trainer(config, RunOptions(data_dir=str(data), out_dir=str(out), device=device, progress=False,
                                      threads=1))


def _record_linear_dtypes(model: nn.Module) -> tuple[list[torch.dtype], list[torch.utils.hooks.RemovableHandle]]:
    seen: list[torch.dtype] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
               for m in model.modules() if isinstance(m, nn.Linear)]
    assert handles, "the model has no nn.Linear to observe"
    return seen, handles


@pytest.mark.parametrize("amp,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16), ("off", torch.float32)])
def test_autocast_dtype_inside_the_training_and_validation_forward(amp, dtype, tmp_path, synthetic_graphs,
                                                                   one_thread):
    """Every linear layer's output has the autocast dtype in ``train_step`` and in ``validate``
    (float32 with ``amp: off``); fp16 also has an enabled GradScaler (scale 2^16, or 2^15 after an
    overflow of the scaled gradients)."""
    trainer = _trainer(synthetic_graphs, tmp_path / amp, amp)
    seen, handles = _record_linear_dtypes(trainer.model)
    batch = next(iter(trainer.train_loader.epoch(1))).to(trainer.device)
    terms = trainer.train_step(batch)
    assert torch.isfinite(terms["loss"])
    n_linear = len(handles)
    assert len(seen) >= n_linear and set(seen) == {dtype}, (amp, set(seen))
    seen.clear()
    trainer.validate()
    assert len(seen) >= n_linear and set(seen) == {dtype}, (amp, set(seen))
    for handle in handles:
        handle.remove()
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    if amp == "fp16":  # 2^16 initially, halved if the scaled fp16 gradients overflowed (step skipped)
        assert trainer.scaler.get_scale() in (2.0 ** 16, 2.0 ** 15)
    trainer.metrics.close()


def test_bf16_forward_differs_from_fp32_within_tolerance(tmp_path, synthetic_graphs, one_thread):
    """The same initial weights, the same validation jets: the bf16 reconstruction is not the fp32
    one (autocast changed the arithmetic) but within 5 % (relative L2 over the batch; bf16 keeps 8
    significant bits, 0.4 % per rounding) and the validation loss within 2 %."""
    results = {}
    for amp in ("off", "bf16"):
        trainer = _trainer(synthetic_graphs, tmp_path / amp, amp)
        outputs: list[torch.Tensor] = []
        handle = trainer.model.register_forward_hook(
            lambda _m, _i, out: outputs.append(out["reconstruction"].detach().float()))
        val = trainer.validate()
        handle.remove()
        results[amp] = (trainer.model.state_dict(), torch.cat(outputs), val)
        trainer.metrics.close()
    (w32, out32, val32), (w16, out16, val16) = results["off"], results["bf16"]
    for name, value in w32.items():
        assert torch.equal(value, w16[name]), name  # same seed, same initial model
    assert out32.dtype == out16.dtype == torch.float32 and out32.shape == out16.shape
    rel = float((out16 - out32).norm() / out32.norm())
    assert 1e-4 < rel < 0.05, rel
    assert val16["loss"] != val32["loss"]
    assert abs(val16["loss"] - val32["loss"]) < 0.02 * abs(val32["loss"]), (val32["loss"], val16["loss"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_autocast_dtype_on_cuda(amp, dtype, tmp_path, synthetic_graphs, one_thread):
    """The same observation on the GPU (CUDA autocast; fp16 with an enabled GradScaler)."""
    trainer = _trainer(synthetic_graphs, tmp_path / amp, amp, device="cuda")
    assert trainer.device.type == "cuda"
    seen, handles = _record_linear_dtypes(trainer.model)
    batch = next(iter(trainer.train_loader.epoch(1))).to(trainer.device)
    assert torch.isfinite(trainer.train_step(batch)["loss"])
    trainer.validate()
    for handle in handles:
        handle.remove()
    assert len(seen) >= 2 * len(handles) and set(seen) == {dtype}, (amp, set(seen))
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    trainer.metrics.close()
