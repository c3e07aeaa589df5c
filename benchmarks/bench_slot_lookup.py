"""The latent decoder's slot-embedding lookup: ``table[slot_id]`` (the code before, whose backward is
an accumulating ``index_put`` that adds with racing atomic float adds once the gradient has >= 32768
elements and more than one thread runs) against ``nn.functional.embedding(slot_id, table)`` (now;
each thread owns a range of table rows and adds in index order), side by side.

Two measurements, at 1 and 2 intra-op threads, variants alternated repeat by repeat:

* the op alone at the demo's shapes (forward + backward, the packed slot ids ``[16, W]`` of the
  widest timed batch into the ``[1024, 64]`` table), with how many repeats gave a gradient
  different from the first;
* one training step's forward + loss + backward of ``configs/demo.yaml`` on the same real demo
  batches (the optimiser step, identical for both, is left out), and whether every parameter's
  gradient was bit-identical across repeats. The model is the untrained one with the PCA fitted on
  64 jets and the output head drawn from N(0, 0.02) (``pca_init`` starts it at zero, so that no
  gradient would reach the slot embedding yet).

The "before" variant is the current decoder with its ``nn`` namespace swapped for one whose
``functional.embedding`` indexes (``_Indexing``): the same code otherwise.

    nice -n 19 .venv/bin/python benchmarks/bench_slot_lookup.py --data demo_output/graphs
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe, load_average, machine  # noqa: E402

import gvae.model.set_decoder as set_decoder  # noqa: E402
from gvae.model import gvae_loss  # noqa: E402
from gvae.train.config import load_config  # noqa: E402
from gvae.train.loop import RunOptions, Trainer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("index (before)", "embedding (now)")


class _Indexing:
    """``torch.nn.functional`` with ``embedding(idx, table)`` as ``table[idx]`` (the code before)."""

    @staticmethod
    def embedding(index: Tensor, table: Tensor) -> Tensor:
        return table[index]

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.nn.functional, name)


_BEFORE = types.SimpleNamespace(functional=_Indexing())


def _use(variant: str) -> None:
    set_decoder.nn = _BEFORE if variant == VARIANTS[0] else torch.nn  # type: ignore[assignment]


def op_alone(threads: int, repeats: int, ids: Tensor, rows: int, hidden: int) -> dict[str, Any]:
    """Forward + backward of the lookup alone: slot ids ``[B, W]`` into a ``[rows, hidden]`` table ->
    ms per call (median) and the repeats whose gradient differs from the first."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(rows, hidden, requires_grad=True)
    upstream = torch.randn(*ids.shape, hidden, generator=gen)
    fns: dict[str, Callable[[], Tensor]] = {VARIANTS[0]: lambda: table[ids],
                                            VARIANTS[1]: lambda: torch.nn.functional.embedding(ids, table)}
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    first: dict[str, Tensor] = {}
    differ = {v: 0 for v in VARIANTS}
    for _ in range(repeats):
        for v in VARIANTS:
            table.grad = None
            t0 = time.perf_counter()
            (fns[v]() * upstream).sum().backward()
            times[v].append(time.perf_counter() - t0)
            grad = table.grad.clone()
            if v not in first:
                first[v] = grad
            differ[v] += not torch.equal(grad, first[v])
    return {v: {"ms": 1e3 * statistics.median(times[v]), "ms_min": 1e3 * min(times[v]),
                "differing_repeats": differ[v], "repeats": repeats}
            for v in VARIANTS}


def train_steps(trainer: Trainer, batches: list, threads: int, repeats: int) -> dict[str, Any]:
    """Forward + loss + backward over ``batches`` per repeat, variants alternated -> s per step (median
    over repeats) and whether every gradient was bit-identical to the variant's first repeat."""
    torch.set_num_threads(threads)
    model, cfg = trainer.model, trainer.cfg
    model.train()
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    first: dict[str, list[dict[str, Tensor]]] = {}
    identical = {v: True for v in VARIANTS}
    for _ in range(repeats + 1):                      # the first repeat warms up (not timed)
        for v in VARIANTS:
            _use(v)
            grads = []
            t0 = time.perf_counter()
            for batch in batches:
                out = model(batch.features, batch.neighbours, batch.mask, batch.noise, True)
                loss, _ = gvae_loss(out, batch.features, batch.mask, cfg.training.loss, trainer.std_u, 1000,
                                    trainer.train_set.normalisation)
                model.zero_grad(set_to_none=True)
                loss.backward()
                grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
            elapsed = time.perf_counter() - t0
            if v not in first:
                first[v] = grads
                continue
            times[v].append(elapsed / len(batches))
            identical[v] &= all(torch.equal(g[n], f[n]) for g, f in zip(grads, first[v]) for n in f)
    _use(VARIANTS[1])
    return {v: {"s_per_step": statistics.median(times[v]), "every_step_s": times[v],
                "grads_bit_identical_across_repeats": identical[v]} for v in VARIANTS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="graph shard directory of the demo (max_nodes 1024, k 8)")
    p.add_argument("--batches", type=int, default=3, help="training batches per repeat (default 3)")
    p.add_argument("--repeats", type=int, default=4, help="timed repeats per variant and thread count (default 4)")
    p.add_argument("--op-repeats", type=int, default=50, help="repeats of the op alone (default 50)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts (default 1 2)")
    p.add_argument("--out", default=str(RESULTS / "slot_lookup"), help="results path without suffix")
    args = p.parse_args(argv)
    t_start, load_start = time.time(), load_average()

    cfg = load_config(ROOT / "configs" / "demo.yaml", ["data.max_train_jets=64", "data.max_val_jets=16"])
    trainer = Trainer(cfg, RunOptions(data_dir=args.data, out_dir="/tmp/bench_slot_lookup", progress=False,
                                      threads=max(args.threads)))
    batches = [b for _, b in zip(range(args.batches), trainer.train_loader.epoch(1))]
    with torch.no_grad():  # pca_init starts the head at zero: no gradient would reach the slot embedding
        torch.nn.init.normal_(trainer.model.decoder.head.weight, std=0.02)
    dec = trainer.model.decoder
    counts = [torch.minimum(set_decoder_counts(b), dec.slot_limit) for b in batches]
    widths = [set_decoder.packed_width(c, dec.slot_total) for c in counts]
    widest = max(range(len(batches)), key=lambda i: widths[i])
    ids = set_decoder.packed_slots(counts[widest], widths[widest], dec.slot_offset, dec.slot_limit,
                                   dec.log_slot_norm)[2]
    rows: dict[str, Any] = {"op": {}, "step": {}}
    for threads in args.threads:
        rows["op"][threads] = op_alone(threads, args.op_repeats, ids, dec.slot_total, cfg.model.decoder_hidden)
        rows["step"][threads] = train_steps(trainer, batches, threads, args.repeats)
    info = machine()
    info["load_average_start"] = load_start
    command = "python benchmarks/bench_slot_lookup.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "command": command, "widths": widths,
                                                    "results": rows}, indent=1))
    lines = [f"# Slot-embedding lookup: indexing vs nn.functional.embedding ({describe(info)}, load average "
             f"{load_start} at start)", "",
             f"Command: `nice -n 19 {command}` ({time.time() - t_start:.0f} s). Variants alternated repeat by "
             "repeat in one process; every process of the machine's other work kept running (the absolute "
             "times are under that load, the ratios side by side). 2-thread numbers under a full 2-core "
             "load mostly measure waiting for the second core.", "",
             f"## The op alone (forward + backward, the widest batch's slot ids {list(ids.shape)} into the "
             f"[{dec.slot_total}, {cfg.model.decoder_hidden}] table)", "",
             "| threads | variant | ms per call (median) | ms per call (min) | repeats whose gradient differs from the first |",
             "|---:|---|---:|---:|---:|"]
    for threads, res in rows["op"].items():
        for v, r in res.items():
            lines.append(f"| {threads} | {v} | {r['ms']:.3f} | {r['ms_min']:.3f} | {r['differing_repeats']} / {r['repeats']} |")
    lines += ["", f"## Training step of configs/demo.yaml (forward + loss + backward; {args.batches} real demo "
              f"batches of 16 jets, packed widths {widths}; median over {args.repeats} repeats after one warm-up)",
              "", "| threads | variant | s per step (median) | s per step (min) | every repeat (s per step) | all "
              "gradients bit-identical across repeats |", "|---:|---|---:|---:|---|---|"]
    for threads, res in rows["step"].items():
        for v, r in res.items():
            every = ", ".join(f"{s:.3f}" for s in r["every_step_s"])
            lines.append(f"| {threads} | {v} | {r['s_per_step']:.3f} | {min(r['every_step_s']):.3f} | {every} | "
                         f"{'yes' if r['grads_bit_identical_across_repeats'] else 'NO'} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def set_decoder_counts(batch: Any) -> Tensor:
    """True hits per channel int64 ``[B, 3]`` of a training batch."""
    from gvae.model.set_loss import true_counts

    return true_counts(batch.features, batch.mask)


if __name__ == "__main__":
    raise SystemExit(main())
