"""Same seed -> the same model at any intra-op thread count (here 2, the CI machine's cores).

``python -m gvae.train --threads 2`` twice with the same config must give bit-identical parameters,
optimizer state, metrics and fitted prior; ``--stop-after-epochs`` + ``--resume`` at 2 threads must
give the uninterrupted 2-thread run. (Bit-identity *across* thread counts is not required: a BLAS
reduction split over 2 threads rounds differently from 1.)

What this guards: the latent decoder's slot-embedding lookup. Its backward through advanced
indexing (``table[slot_id]``: an accumulating ``index_put``) adds into the table with atomic float
adds from every thread once the gradient has >= 32768 elements (ATen's ``GRAIN_SIZE``) and more than
one thread is used, so the summation order, and the last bits, changed from run to run. The config
below makes that gradient ``16 jets x 48 packed slots x 64 = 49152`` elements, so the parallel path
is taken; ``nn.functional.embedding`` (each thread owns its table rows) is deterministic. A unit test
checks the lookup alone: the indexing lookup's outputs and 1-thread gradients bit for bit, and a
2-thread table gradient equal to the 1-thread one in every repeat.
"""
from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
import torch
import yaml

from fixtures_model import tiny_config
from gvae.model import ModelConfig
from gvae.model import set_decoder
from gvae.model.set_decoder import SetDecoder, packed_width
from gvae.train.__main__ import main

THREADS = 2
#: volatile metrics (wall-clock)
_TIMING = ("seconds", "graphs_per_s", "data_wait_share")


@pytest.fixture
def two_threads():
    """Train with 2 intra-op threads (``--threads 2`` sets them) and restore the count afterwards."""
    before = torch.get_num_threads()
    yield THREADS
    torch.set_num_threads(before)


def _config(tmp_path: Path) -> Path:
    cfg = tiny_config(48, 4, epochs=2, batch_size=16, lr_reference_batch=16, seed=11)
    cfg["model"] = {k: v for k, v in cfg["model"].items() if k != "decoder"} | {
        "decoder": "latent", "decoder_hidden": 64, "decoder_heads": 2, "decoder_blocks": 1, "slots": [16, 16, 16],
        "latent_summary": True, "latent_summary_hits": 2, "pca_init": True}
    path = tmp_path / "latent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(config: Path, data: Path, out: Path, *extra: str) -> None:
    assert main(["--config", str(config), "--data", str(data), "--out", str(out), "--no-progress",
                 "--threads", str(THREADS), *extra]) == 0
    assert torch.get_num_threads() == THREADS


def _assert_same_run(a_dir: Path, b_dir: Path) -> None:
    """Bit-identical last.pt (parameters, buffers, optimizer state, scheduler), best.pt's prior, metrics."""
    a = torch.load(a_dir / "last.pt", weights_only=False)
    b = torch.load(b_dir / "last.pt", weights_only=False)
    assert a["global_step"] == b["global_step"] == 8 and a["scheduler"] == b["scheduler"]
    differ = [k for k, v in a["model"].items() if not torch.equal(v, b["model"][k])]
    assert not differ, f"{len(differ)} parameters/buffers differ between identical 2-thread runs: {differ[:6]}"
    state_a, state_b = a["optimizer"]["state"], b["optimizer"]["state"]
    assert state_a.keys() == state_b.keys() and len(state_a) == len(a["optimizer"]["param_groups"][0]["params"])
    for pid, state in state_a.items():
        for name, value in state.items():
            assert torch.equal(value, state_b[pid][name]), (pid, name)
    prior_a = torch.load(a_dir / "best.pt", weights_only=False)["prior"]
    prior_b = torch.load(b_dir / "best.pt", weights_only=False)["prior"]
    flat_a, flat_b = _tensors(prior_a), _tensors(prior_b)
    assert flat_a and flat_a.keys() == flat_b.keys()
    differ = [k for k, v in flat_a.items() if not _same(v, flat_b[k])]
    assert not differ, f"fitted priors differ: {differ}"
    rows = [[{k: v for k, v in r.items() if not any(s in k for s in _TIMING)}
             for r in json.loads((d / "metrics.json").read_text())] for d in (a_dir, b_dir)]
    assert len(rows[0]) == 2 and rows[0] == rows[1]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-identical values (NaN equals NaN: the prior stores NaN for a per-type shrinkage)."""
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.isclose(a, b, rtol=0, atol=0, equal_nan=True).all())


def _tensors(obj: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor (numpy arrays and floats as tensors) in a nested dict/list, by path."""
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _tensors(value, f"{prefix}{key}.").items()}
    if isinstance(obj, (list, tuple)):
        return {k: v for i, value in enumerate(obj) for k, v in _tensors(value, f"{prefix}{i}.").items()}
    if isinstance(obj, (int, float)) or hasattr(obj, "__array__"):
        return {prefix: torch.as_tensor(obj)}
    return {}


def test_the_config_takes_the_parallel_accumulation_path(tmp_path, synthetic_graphs, two_threads):
    """Every training batch's slot-embedding gradient exceeds ATen's parallel grain (32768 elements),
    so a thread-racing backward of that lookup would show in this file's runs."""
    from gvae.model.set_loss import true_counts
    from gvae.train.config import load_config
    from gvae.train.loop import RunOptions, Trainer

    cfg = load_config(_config(tmp_path))
    trainer = Trainer(cfg, RunOptions(data_dir=str(synthetic_graphs), out_dir=str(tmp_path / "run"),
                                      progress=False, threads=THREADS))
    limit = torch.tensor(cfg.model.slot_budget)
    sizes = [len(batch) * packed_width(torch.minimum(true_counts(batch.features, batch.mask), limit), int(limit.sum()))
             * cfg.model.decoder_hidden for batch in trainer.train_loader.epoch(1)]
    assert len(sizes) == 4 and min(sizes) >= 32768, sizes


class _Indexing:
    """``torch.nn.functional`` with ``embedding(idx, table)`` as ``table[idx]`` (the lookup before the fix)."""

    @staticmethod
    def embedding(index: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return table[index]

    def __getattr__(self, name: str):
        return getattr(torch.nn.functional, name)


def test_slot_lookup_equals_indexing_and_its_gradient_does_not_depend_on_threads(monkeypatch, two_threads):
    """The decoder's slot-embedding lookup gives the indexing lookup's outputs and 1-thread gradients
    bit for bit; at 2 threads (a table gradient of 32 x 64 x 64 = 131072 elements: the parallel path)
    the slot-embedding gradient is the 1-thread one in every repeat, and every gradient repeats."""
    torch.manual_seed(5)
    dec = SetDecoder(ModelConfig(max_nodes=64, k=4, hidden=16, clusters=[10, 5], latent_dim=3, decoder="latent",
                                 decoder_hidden=64, decoder_heads=2, decoder_blocks=1, slots=[16, 32, 16]))
    gen = torch.Generator().manual_seed(6)
    z = torch.randn(32, 5, 3, generator=gen)
    counts = torch.stack([torch.randint(8, 17, (32,), generator=gen), torch.randint(20, 33, (32,), generator=gen),
                          torch.randint(8, 17, (32,), generator=gen)], dim=1)

    def run() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        dec.zero_grad(set_to_none=True)
        out = dec(z, None, counts).xyu
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(7))).sum().backward()
        return out.detach(), {n: p.grad.clone() for n, p in dec.named_parameters() if p.grad is not None}

    torch.set_num_threads(1)
    out, grads = run()
    with monkeypatch.context() as patch:
        patch.setattr(set_decoder, "nn", types.SimpleNamespace(functional=_Indexing()))
        out_indexing, grads_indexing = run()
    assert torch.equal(out, out_indexing)
    assert all(torch.equal(g, grads_indexing[n]) for n, g in grads.items())
    assert float(grads["slot_embedding"].abs().sum()) > 0
    torch.set_num_threads(THREADS)
    first = run()[1]
    for _ in range(5):
        again = run()[1]
        assert torch.equal(again["slot_embedding"], grads["slot_embedding"])
        assert all(torch.equal(g, first[n]) for n, g in again.items())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, synthetic_graphs) -> Path:
    """Run directories ``a`` and ``b`` (the same 2-epoch 2-thread run twice) and ``part`` (epoch 1 with
    ``--stop-after-epochs 1``, then ``--resume`` for epoch 2), all with ``--threads 2``."""
    root = tmp_path_factory.mktemp("determinism")
    config = _config(root)
    before = torch.get_num_threads()
    try:
        _train(config, synthetic_graphs, root / "a")
        _train(config, synthetic_graphs, root / "b")
        _train(config, synthetic_graphs, root / "part", "--stop-after-epochs", "1")
        assert torch.load(root / "part" / "last.pt", weights_only=False)["global_step"] == 4
        _train(config, synthetic_graphs, root / "part", "--resume")
    finally:
        torch.set_num_threads(before)
    return root


def test_two_thread_training_is_bit_reproducible(runs):
    _assert_same_run(runs / "a", runs / "b")


def test_two_thread_resume_reproduces_the_uninterrupted_run(runs):
    _assert_same_run(runs / "a", runs / "part")
