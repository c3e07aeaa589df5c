"""Training learns: the optimiser step changes the weights by the AdamW rule, every parameter moves,
and the loss on a fixed tiny set falls over a few epochs.

The other training tests compare runs with each other (resume, 1 vs 2 processes, bf16 vs fp32),
which a training loop that never updates the weights would pass as well; these tests do not.
"""
from __future__ import annotations

import copy

import pytest
import torch

from fixtures_model import tiny_config
from gvae.train.config import Config
from gvae.train.loop import RunOptions, Trainer


@pytest.fixture
def one_thread():
    """Train with one intra-op thread (the test machine is shared) and restore afterwards."""
    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


def _trainer(data, out, **training) -> Trainer:
    config = Config.from_dict(tiny_config(48, 4, **training))
    return Trainer(config, RunOptions(data_dir=str(data), out_dir=str(out), device="cpu", progress=False,
                                      threads=1))


def test_first_step_moves_every_parameter_by_the_adamw_rule(tmp_path, synthetic_graphs, one_thread):
    """One optimiser step from a fresh AdamW state: ``m_hat = g`` and ``sqrt(v_hat) = |g|``, so
    ``delta = -lr * wd * theta - lr * g / (|g| + eps)`` element by element, with ``g`` the clipped
    gradient and ``lr`` the scheduled rate of step 0 (warm-up: lr * 1/2). Every parameter tensor
    gets a nonzero gradient, so every one moves, by about ``lr`` per element."""
    trainer = _trainer(synthetic_graphs, tmp_path / "run", warmup_steps=2)
    group = trainer.optimizer.param_groups[0]
    lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
    assert lr == pytest.approx(trainer.lr * 0.5) and trainer.lr == pytest.approx(3e-3)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    batch = next(iter(trainer.train_loader.epoch(1))).to(trainer.device)
    terms = trainer.train_step(batch)
    assert torch.isfinite(terms["loss"]) and trainer.global_step == 1
    for name, p in trainer.model.named_parameters():
        g = p.grad
        assert g is not None and (g != 0).any(), f"{name}: no gradient"
        delta = p.detach() - before[name]
        expected = -lr * wd * before[name] - lr * g / (g.abs() + eps)
        torch.testing.assert_close(delta, expected, rtol=0, atol=1e-3 * lr, msg=lambda m: f"{name}: {m}")
        big = g.abs() > 1e-6
        assert big.any(), f"{name}: all gradients below 1e-6"
        assert (delta[big].abs() > 0.9 * lr).all(), f"{name}: moved less than the learning rate"
    trainer.metrics.close()


def test_parameters_move_and_loss_falls_over_epochs(tmp_path, synthetic_graphs, one_thread):
    """Five epochs on the 64 synthetic training jets (8 steps each): every parameter tensor moves,
    the whole parameter vector by more than 5 % of its norm; the training loss falls every epoch and
    ends below 80 % of the first epoch's; the validation loss (deterministic: latent mean, no noise)
    of the trained model is below 80 % of the untrained model's on the same jets."""
    trainer = _trainer(synthetic_graphs, tmp_path / "run", epochs=5)
    initial = copy.deepcopy(trainer.model.state_dict())
    untrained = trainer.validate()
    result = trainer.fit()
    assert result.epochs_done == 5 and result.global_step == 40
    final = trainer.model.state_dict()
    moved2, norm2 = 0.0, 0.0
    for name, value in initial.items():
        if not value.is_floating_point():
            continue
        change = (final[name] - value).double()
        assert change.abs().max() > 1e-3, f"{name} did not move"
        moved2 += float((change ** 2).sum())
        norm2 += float((value.double() ** 2).sum())
    assert (moved2 / norm2) ** 0.5 > 0.05
    train = [row["train_loss"] for row in result.history]
    assert all(b < a for a, b in zip(train, train[1:])), train
    assert train[-1] < 0.8 * train[0], train
    val = [row["val_loss"] for row in result.history]
    assert val[-1] < 0.8 * untrained["loss"], (untrained["loss"], val)
    assert result.final_val["recon"] < 0.8 * untrained["recon"], (untrained["recon"], result.final_val["recon"])
