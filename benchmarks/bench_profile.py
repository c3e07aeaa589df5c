"""Where one training step of the default model goes: a phase breakdown and a torch.profiler table.

Builds the real :class:`gvae.train.loop.Trainer` of ``configs/demo.yaml`` (kNN encoder, MinCut
100 -> 50, latent-only set decoder, set loss) on a converted graph directory (the demo's
``demo_output/graphs``; copy it, never write into another checkout) and measures, on the real
bucketed batches of the training loader, one intra-op thread:

* phases (wall time, ``perf_counter``; the minimum over steps is not used because batches differ:
  the sum over the same ``--steps`` batches is): loader fetch/collation, forward of the node-level
  GraphSAGE, first pooling (``S^T A S`` over N nodes), coarse stage, latent heads, set decoder,
  loss, backward, optimiser (+ clipping and scheduler);
* the backward split by part: forward + backward of the encoder + latent alone vs the whole step;
* a ``torch.profiler`` table of the top operators by self CPU time (with input shapes).

Writes ``benchmarks/results/profile_train.{json,md}``.

    nice -n 10 .venv/bin/python benchmarks/bench_profile.py --data /tmp/graphs --steps 12
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402

from gvae.model import gvae_loss  # noqa: E402
from bench_train_speed import DEFAULT_CONFIG, ROOT, make_trainer, shown_path  # noqa: E402
from gvae.train.loop import Trainer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


class PhaseTimer:
    """Forward-hook timer of named submodules (wall time summed per name) + record_function scopes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.enabled = True

    def attach(self, name: str, module: torch.nn.Module, method: str = "forward") -> None:
        """Time ``module.<method>`` (an instance attribute wrapping the bound method)."""
        inner = getattr(module, method)

        def timed(*args, **kwargs):
            with self.phase(name):
                return inner(*args, **kwargs)
        setattr(module, method, timed)

    @contextlib.contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        with torch.profiler.record_function(f"## {name}"):
            yield
        if self.enabled:
            self.seconds[name] += time.perf_counter() - t0


def instrumented_steps(tr: Trainer, steps: int, timer: PhaseTimer, warmup: int = 2) -> dict:
    """Run ``warmup + steps`` training steps phase by phase (the same operations as
    ``Trainer.train_step``); the phase times of the last ``steps``."""
    enc = tr.model.encoder
    knn = tr.cfg.model.message_passing == "knn"
    if knn:
        from gvae.model import knn as knn_mod
        timer.attach("encoder: kNN graph rows (sort)", knn_mod, "knn_graph")
    else:
        timer.attach("encoder: dense adjacency [B, N, N]", tr.model.adjacency)
    timer.attach(f"encoder: node GraphSAGE ({tr.cfg.model.message_passing})", enc.nodes)
    timer.attach("encoder: pool 1 (N -> C1, S^T A S + losses) + SAGE", enc.stages[0], "forward_with_losses")
    for p, st in enumerate(enc.stages[1:], start=2):
        timer.attach(f"encoder: pool {p} (dense C x C) + SAGE", st, "forward_with_losses")
    timer.attach("latent heads", tr.model.latent)
    timer.attach("set decoder", tr.model.decoder)
    tr.wrapped.train()
    loader = iter(tr.train_loader.epoch(1))
    nodes, jets = [], 0
    for i in range(warmup + steps):
        timer.enabled = i >= warmup
        with timer.phase("data: loader fetch + collate"):
            batch = next(loader)
        if timer.enabled:
            nodes.append(int(batch.mask.sum(1).max()))
            jets += len(batch)
        with timer.phase("forward (total)"):
            out = tr.wrapped(batch.features, batch.neighbours, batch.mask, batch.noise)
        with timer.phase("loss"):
            loss, _ = gvae_loss(out, batch.features, batch.mask, tr.cfg.training.loss, tr.std_u,
                                tr.global_step, tr.train_set.normalisation)
        with timer.phase("backward (all parts)"):
            tr.optimizer.zero_grad()
            loss.backward()
        with timer.phase("optimiser (clip + AdamW + scheduler)"):
            torch.nn.utils.clip_grad_norm_(tr.model.parameters(), tr.cfg.training.grad_clip)
            tr.optimizer.step()
            tr.scheduler.step()
        tr.global_step += 1
    timer.enabled = False
    return {"jets": jets, "steps": steps, "padded_nodes": nodes}


def backward_split(tr: Trainer, steps: int) -> dict:
    """fwd+bwd seconds of the whole step vs encoder + latent alone on the same batches."""
    loader = iter(tr.train_loader.epoch(2))
    batches = [next(loader) for _ in range(steps)]
    model = tr.model

    def full(b) -> None:
        out = model(b.features, b.neighbours, b.mask, b.noise)
        loss, _ = gvae_loss(out, b.features, b.mask, tr.cfg.training.loss, tr.std_u, 10**6,
                            tr.train_set.normalisation)
        model.zero_grad()
        loss.backward()

    def enc(b) -> None:
        f, nb, m = model._trimmed(b.features, b.neighbours, b.mask, True)
        h, _, _, mc, oc = model.encoder.forward_with_losses(f, nb, m)
        mu, lv = model.latent(h)
        model.zero_grad()
        (mu.square().mean() + lv.mean() + torch.stack(mc).sum() + torch.stack(oc).sum()).backward()
    res = {"full": 0.0, "encoder+latent": 0.0}
    full(batches[0])
    for b in batches:  # alternated per batch
        for name, fn in (("full", full), ("encoder+latent", enc)):
            t0 = time.perf_counter()
            fn(b)
            res[name] += time.perf_counter() - t0
    return res


def profile_table(tr: Trainer, steps: int, top: int) -> tuple[list[dict], list[dict]]:
    """torch.profiler over ``steps`` real training steps: top ops by self CPU time (grouped by
    input shape) and the ``## phase`` scopes' inclusive CPU time."""
    timer = PhaseTimer()
    tr2 = tr
    loader = iter(tr2.train_loader.epoch(3))
    batches = [next(loader) for _ in range(steps)]
    with torch.profiler.profile(record_shapes=True) as prof:
        for b in batches:
            with timer.phase("forward"):
                out = tr2.wrapped(b.features, b.neighbours, b.mask, b.noise)
            with timer.phase("loss"):
                loss, _ = gvae_loss(out, b.features, b.mask, tr2.cfg.training.loss, tr2.std_u, 10**6,
                                    tr2.train_set.normalisation)
            with timer.phase("backward"):
                tr2.optimizer.zero_grad()
                loss.backward()
            with timer.phase("optimiser"):
                tr2.optimizer.step()
    ka = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ka if not e.key.startswith("## "))
    ops = []
    for e in sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total):
        if e.key.startswith("## "):
            continue
        ops.append({"op": e.key, "shapes": str(e.input_shapes)[:100], "calls": e.count,
                    "self_ms_per_step": e.self_cpu_time_total / 1e3 / steps, "share": e.self_cpu_time_total / total})
        if len(ops) == top:
            break
    by_op = []
    for e in sorted(ka, key=lambda e: -e.self_cpu_time_total):
        if e.key.startswith("## "):
            continue
        by_op.append({"op": e.key, "calls": e.count, "self_ms_per_step": e.self_cpu_time_total / 1e3 / steps,
                      "share": e.self_cpu_time_total / total})
        if len(by_op) == top:
            break
    return ops, by_op


def write_markdown(res: dict, path: Path) -> None:
    m = res["machine"]
    ph = res["phases"]
    step_s = sum(v for k, v in ph.items() if not k.startswith("encoder") and k not in ("latent heads", "set decoder"))
    lines = [f"# Profile of one training step of `{res['config']}` ({m['cpu']}, {m['cores']} cores, torch {m['torch']}, "
             f"1 intra-op thread, load average {m['load_average_1min']} at start, {res['load_average_end']} at end)", "",
             f"Command: `{res['command']}` ({res['seconds']:.0f} s). Config `{res['config']}` ({res['variant']}); "
             f"data: the demo's graph directory (1500 mixed jets with pile-up, max_nodes 1024), training split, "
             f"bucketed batches of {res['batch']} from the real loader; {res['run']['steps']} steps, "
             f"{res['run']['jets']} jets, largest jet per batch (trimmed N) {min(res['run']['padded_nodes'])}-"
             f"{max(res['run']['padded_nodes'])} nodes. Absolute times hold for the load average in the title "
             "(2 cores); read the shares.", "",
             f"## Phases (wall time summed over the steps; {res['run']['jets'] / step_s:.1f} graphs/s for the whole loop)", "",
             "| phase | ms / step | share of step |", "|---|---:|---:|"]
    n = res["run"]["steps"]
    for k, v in ph.items():
        indent = "&nbsp;&nbsp;" if k.startswith("encoder") or k in ("latent heads", "set decoder") else ""
        lines.append(f"| {indent}{k} | {1e3 * v / n:.1f} | {100 * v / step_s:.1f} % |")
    bs = res["backward_split"]
    lines += ["", f"Forward + backward, whole model vs encoder + latent alone (same {res['split_steps']} batches, "
              f"alternated): {1e3 * bs['full'] / res['split_steps']:.1f} vs "
              f"{1e3 * bs['encoder+latent'] / res['split_steps']:.1f} ms per step -> the set decoder + set loss take "
              f"{100 * (1 - bs['encoder+latent'] / bs['full']):.0f} % of forward + backward.", "",
              f"## torch.profiler: top operators by self CPU time ({res['profile_steps']} steps, forward + loss + "
              "backward + optimiser)", "", "| op | calls | self ms / step | share |", "|---|---:|---:|---:|"]
    lines += [f"| {r['op']} | {r['calls']} | {r['self_ms_per_step']:.1f} | {100 * r['share']:.1f} % |" for r in res["by_op"]]
    lines += ["", "Grouped by input shape:", "", "| op | input shapes | calls | self ms / step | share |",
              "|---|---|---:|---:|---:|"]
    lines += [f"| {r['op']} | `{r['shapes']}` | {r['calls']} | {r['self_ms_per_step']:.1f} | {100 * r['share']:.1f} % |"
              for r in res["ops"]]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="demo_output/graphs",
                   help="converted graph directory (k 8, max_nodes 1024: the demo's; default demo_output/graphs from make demo)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                   help="training config to profile (default configs/demo.yaml)")
    p.add_argument("--steps", type=int, default=12, help="timed training steps (default 12)")
    p.add_argument("--profile-steps", type=int, default=4, help="steps under torch.profiler (default 4)")
    p.add_argument("--top", type=int, default=25, help="rows of the operator tables (default 25)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override (repeatable), e.g. model.message_passing=dense")
    p.add_argument("--name", default="profile_train", help="results file stem (default profile_train)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    t0 = time.perf_counter()
    res: dict = {"machine": machine(), "command": "python " + " ".join(sys.argv),
                 "variant": ", ".join(args.overrides) or "as is", "config": shown_path(args.config)}
    with tempfile.TemporaryDirectory() as tmp:
        tr = make_trainer(args.config, args.data, tmp, args.overrides)
        res["batch"] = tr.cfg.training.batch_size
        timer = PhaseTimer()
        res["run"] = instrumented_steps(tr, args.steps, timer)
        res["phases"] = dict(timer.seconds)
        res["split_steps"] = max(2, args.steps // 2)
        res["backward_split"] = backward_split(tr, res["split_steps"])
        res["profile_steps"] = args.profile_steps
        res["ops"], res["by_op"] = profile_table(tr, args.profile_steps, args.top)
    res["seconds"] = time.perf_counter() - t0
    res["load_average_end"] = round(os.getloadavg()[0], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(res, indent=1) + "\n")
    write_markdown(res, args.out / f"{args.name}.md")
    print((args.out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
