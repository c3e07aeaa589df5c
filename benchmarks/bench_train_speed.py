"""Training throughput of a configuration (``--config``, default ``configs/demo.yaml``) on real data, side by side.

Every variant runs ``Trainer.train_step`` (forward, set loss, backward, clipping, optimiser,
scheduler) of the real :class:`gvae.train.loop.Trainer` on the same real batches of the training
loader (bucketed, trimmed to their largest jet), one intra-op thread per process:

* one process, alternated step by step on the same batches (ratios fair on a loaded machine):
  eager (this code: fused AdamW, multi-tensor clipping, MinCut trace from the pooled C x C matrix,
  Chamfer backward on the arg-min pairs), eager with the code before this branch (per-parameter
  AdamW loop and clipping, trace as an N x C product, Chamfer on the full differentiable matrix),
  bf16 autocast, eager with the dense ``[B, N, N]`` encoder, and ``torch.compile``
  (inductor) after its warm-up (recompilations for new batch shapes included in the warm-up);
* one and two processes (torchrun, DDP over gloo, each process its own part of every global
  batch), eager and compiled, each a separate run of the same worker;
* the loader's fetch + collation time per batch.

Writes ``benchmarks/results/train_speed.{json,md}``. Needs a converted graph directory with
k = 8, max_nodes = 1024 (the demo's ``demo_output/graphs``; copy it first).

    nice -n 10 .venv/bin/python benchmarks/bench_train_speed.py --data /tmp/graphs
    nice -n 10 .venv/bin/python benchmarks/bench_train_speed.py --data /tmp/graphs --no-compile --steps 6
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402

from gvae.model import gvae_loss  # noqa: E402
from gvae.train.config import load_config  # noqa: E402
from gvae.train.loop import RunOptions, Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


#: the default ``--config``
DEFAULT_CONFIG = ROOT / "configs" / "demo.yaml"


def shown_path(path: Path) -> str:
    """``path`` as the results files show it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def make_trainer(config: Path, data: str, out: str, overrides: list[str], backend=None) -> Trainer:
    """The Trainer of ``config`` on ``data`` (1 intra-op thread, no progress bar)."""
    cfg = load_config(config, ["data.max_val_jets=16", *overrides])
    return Trainer(cfg, RunOptions(data_dir=data, out_dir=out, progress=False, threads=1), backend)


def chamfer_before(pos_a: torch.Tensor, w_a: torch.Tensor, pos_b: torch.Tensor, w_b: torch.Tensor):
    """``gvae.model.set_loss``'s Chamfer as it was before this branch: the minimum over the whole
    differentiable ``cdist`` matrix (O(S T) backward)."""
    cost = torch.cdist(pos_a, pos_b)
    big = cost + (~(w_b > 0)).unsqueeze(1) * 1e3 + (~(w_a > 0)).unsqueeze(2) * 1e3
    d_ab = big.min(dim=2).values
    d_ba = big.min(dim=1).values
    value = 0.5 * ((w_a * d_ab.clamp(max=10)).sum(1) + (w_b * d_ba.clamp(max=10)).sum(1))
    return value, value.detach()


@contextlib.contextmanager
def code_before():
    """Swap in the pre-branch MinCut trace (``bench_knn.knn_mincut_before``) and Chamfer."""
    from bench_knn import knn_mincut_before
    import gvae.model.knn as knn_mod
    import gvae.model.set_loss as set_loss_mod

    def mincut_before(x, s, graph, with_losses):
        if not with_losses:
            return saved[0](x, s, graph, with_losses)
        return knn_mincut_before(x, s, graph)
    saved = (knn_mod.knn_mincut, set_loss_mod._chamfer)
    knn_mod.knn_mincut, set_loss_mod._chamfer = mincut_before, chamfer_before
    try:
        yield
    finally:
        knn_mod.knn_mincut, set_loss_mod._chamfer = saved


def legacy_step(tr: Trainer, batch) -> None:
    """``Trainer.train_step`` as it was before this branch: the same operations with the
    per-parameter AdamW loop and per-parameter gradient clipping (``tr.optimizer`` must be a
    ``foreach=False`` AdamW), the MinCut trace as an N x C product and the full-matrix Chamfer."""
    with code_before():
        out = tr.wrapped(batch.features, batch.neighbours, batch.mask, batch.noise)
        loss, _ = gvae_loss(out, batch.features, batch.mask, tr.cfg.training.loss, tr.std_u, tr.global_step,
                            tr.train_set.normalisation)
        tr.optimizer.zero_grad()
        loss.backward()
    torch.nn.utils.clip_grad_norm_(tr.model.parameters(), tr.cfg.training.grad_clip, foreach=False)
    tr.optimizer.step()
    tr.scheduler.step()
    tr.global_step += 1


def fetch(tr: Trainer, count: int) -> tuple[list, float]:
    """``count`` batches of epoch 1 of this rank's loader and the seconds the loader took."""
    it = iter(tr.train_loader.epoch(1))
    t0 = time.perf_counter()
    batches = [next(it) for _ in range(count)]
    return batches, time.perf_counter() - t0


def single_process(config: Path, data: str, warmup: int, steps: int, eager: bool, compiled: bool) -> dict:
    """Variants alternated step by step on the same batches; graphs/s of each."""
    with tempfile.TemporaryDirectory() as tmp:
        variants: dict[str, tuple[Trainer, object]] = {}
        tr = make_trainer(config, data, tmp, [])
        variants["eager (fused AdamW, foreach clip)"] = (tr, tr.train_step)
        if eager:
            old = make_trainer(config, data, tmp, [])
            old.optimizer = torch.optim.AdamW(old.model.parameters(), lr=old.lr,
                                              weight_decay=old.cfg.training.weight_decay, foreach=False)
            old.scheduler = torch.optim.lr_scheduler.LambdaLR(old.optimizer, old.scheduler.lr_lambdas[0])
            variants["eager, code before this branch"] = (old, lambda b, old=old: legacy_step(old, b))
            dense = make_trainer(config, data, tmp, ["model.message_passing=dense"])
            variants["eager, dense [B,N,N] encoder"] = (dense, dense.train_step)
            bf16 = make_trainer(config, data, tmp, ["training.amp=bf16"])  # pays only with BF16 units
            variants["eager, bf16 autocast (training.amp=bf16)"] = (bf16, bf16.train_step)
        if compiled:
            comp = make_trainer(config, data, tmp, ["training.compile=true"])
            variants["compiled (inductor, dynamic shapes)"] = (comp, comp.train_step)
        batches, load_s = fetch(tr, warmup + steps)
        warm = {}
        for name, (t, step) in variants.items():
            t.wrapped.train()
            t0 = time.perf_counter()
            for b in batches[:warmup]:
                step(b)
            warm[name] = time.perf_counter() - t0
            print("warm", name, f"{warm[name]:.1f} s", flush=True)
        sec = {name: 0.0 for name in variants}
        for b in batches[warmup:]:
            for name, (t, step) in variants.items():
                t0 = time.perf_counter()
                step(b)
                sec[name] += time.perf_counter() - t0
        jets = sum(len(b) for b in batches[warmup:])
        nodes = [int(b.mask.sum(1).max()) for b in batches[warmup:]]
    return {"variants": {name: {"seconds": s, "graphs_per_s": jets / s, "warmup_s": warm[name]}
                         for name, s in sec.items()},
            "jets": jets, "steps": steps, "warmup_steps": warmup, "trimmed_nodes": [min(nodes), max(nodes)],
            "loader_ms_per_batch": 1e3 * load_s / len(batches)}


def worker(args: argparse.Namespace) -> None:
    """One process of a 1- or 2-process throughput run (``--worker``)."""
    from gvae.train.distributed import make_backend
    torch.set_flush_denormal(True)
    backend = make_backend("auto")
    with tempfile.TemporaryDirectory() as tmp:
        tr = make_trainer(args.config, args.data, tmp, ["training.compile=true"] if args.compiled else [], backend)
        batches, _ = fetch(tr, args.warmup + args.steps)
        tr.wrapped.train()
        t0 = time.perf_counter()
        for b in batches[:args.warmup]:
            tr.train_step(b)
        warm = time.perf_counter() - t0
        backend.barrier()
        t0 = time.perf_counter()
        for b in batches[args.warmup:]:
            tr.train_step(b)
        elapsed = torch.tensor([time.perf_counter() - t0, warm])
        jets = torch.tensor([float(sum(len(b) for b in batches[args.warmup:])), 0.0])
        if backend.world_size > 1:
            import torch.distributed as dist
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
            dist.all_reduce(jets)
        if backend.rank == 0:
            Path(args.worker_out).write_text(json.dumps({"seconds": float(elapsed[0]), "warmup_s": float(elapsed[1]),
                                                         "jets": int(jets[0]), "world_size": backend.world_size}))
        backend.barrier()
    backend.shutdown()


def free_port() -> int:
    """A TCP port free at the moment (for torchrun's rendezvous; fixed ports collide between runs)."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_runs(config: Path, data: str, warmup: int, steps: int, eager: bool, compiled: bool, repeats: int = 1) -> dict:
    """Separate runs of :func:`worker` with 1 and 2 processes, eager and/or compiled, the sequence
    repeated ``repeats`` times (1, 2, 1, 2, ...: the load of a shared machine drifts); the best
    run of each kind is kept, all graphs/s are listed."""
    out: dict = {}
    runs = (([(1, False), (2, False)] if eager else []) + ([(1, True), (2, True)] if compiled else [])) * repeats
    with tempfile.TemporaryDirectory() as tmp:
        for procs, comp in runs:
            path = Path(tmp) / f"{procs}{comp}.json"
            args = [__file__, "--worker", "--worker-out", str(path), "--data", data, "--steps", str(steps),
                    "--warmup", str(warmup), "--config", str(config)] + (["--compiled"] if comp else [])
            if procs == 1:
                cmd = [sys.executable, *args]
            else:
                cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
                       "--master_port", str(free_port()), *args]
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            run = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                                 timeout=3600)
            if run.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{run.stderr[-3000:]}")
            r = json.loads(path.read_text())
            name = f"{procs} process{'es' if procs > 1 else ''}, {'compiled' if comp else 'eager'}"
            r.update({"graphs_per_s": r["jets"] / r["seconds"], "load_average_before": load,
                      "wall_s": time.perf_counter() - t0, "command": " ".join(Path(c).name if c == sys.executable
                                                                              else c for c in cmd)})
            r["all_graphs_per_s"] = out.get(name, {}).get("all_graphs_per_s", []) + [r["graphs_per_s"]]
            if name not in out or r["graphs_per_s"] > out[name]["graphs_per_s"]:
                out[name] = r
            out[name]["all_graphs_per_s"] = r["all_graphs_per_s"]
            print("run", name, json.dumps(r), flush=True)
    return out


def write_markdown(res: dict, path: Path) -> None:
    m = res["machine"]
    s = res["single"]
    lines = [f"# Training throughput of `{res['config']}` ({m['cpu']}, {m['cores']} cores, torch {m['torch']}, "
             f"load average {m['load_average_1min']} at start, {res['load_average_end']} at end)", "",
             f"Command: `{res['command']}` ({res['seconds']:.0f} s). `{res['config']}`, batch {res['batch_size']} per "
             "process, real bucketed batches of the demo data (1500 mixed jets with pile-up, max_nodes 1024) trimmed "
             f"to their largest jet ({s['trimmed_nodes'][0]}-{s['trimmed_nodes'][1]} nodes in the timed batches), "
             "one intra-op thread per process, denormals flushed (`training.flush_denormal`). Absolute numbers hold "
             "for the load average in the title (2 cores); ratios within one table were measured side by side.", "",
             f"## One process, variants alternated step by step on the same {s['steps']} batches "
             f"(after {s['warmup_steps']} warm-up steps each)", "",
             "| variant | graphs / s | s per step | warm-up s (incl. compile) | vs before |", "|---|---:|---:|---:|---:|"]
    base = s["variants"]["eager, code before this branch"]["graphs_per_s"]
    for name, r in s["variants"].items():
        lines.append(f"| {name} | {r['graphs_per_s']:.1f} | {r['seconds'] / s['steps']:.3f} | {r['warmup_s']:.1f} | "
                     f"{r['graphs_per_s'] / base:.2f} |")
    lines += ["", f"Loader fetch + collation: {s['loader_ms_per_batch']:.1f} ms per batch of 16."]
    if res.get("runs"):
        lines += ["", "## 1 and 2 processes (separate runs of the same worker, each after its warm-up, run in the "
                  "order 1, 2, 1, 2, ...; best run of each kind, every run listed; 2 processes = torchrun, DDP over "
                  "gloo, global batch 32)", "",
                  "| run | graphs / s (all processes), best | every run | warm-up s | load average before | command |",
                  "|---|---:|---|---:|---:|---|"]
        for name, r in res["runs"].items():
            every = ", ".join(f"{v:.1f}" for v in r.get("all_graphs_per_s", [r["graphs_per_s"]]))
            lines.append(f"| {name} | {r['graphs_per_s']:.1f} | {every} | {r['warmup_s']:.1f} | "
                         f"{r['load_average_before']:.2f} | `{r['command']}` |")
    if res.get("compile"):
        c = res["compile"]
        cs = c["single"]
        lines += ["", f"## Eager vs torch.compile (separate run: `{c['command']}`, {c['seconds']:.0f} s, load average "
                  f"{c['machine']['load_average_1min']} at start, {c['load_average_end']} at end)", "",
                  f"One process, alternated step by step on the same {cs['steps']} batches after {cs['warmup_steps']} "
                  "warm-up steps each (the compiled warm-up includes compilation):", "",
                  "| variant | graphs / s | s per step | warm-up s |", "|---|---:|---:|---:|"]
        for name, r in cs["variants"].items():
            lines.append(f"| {name} | {r['graphs_per_s']:.1f} | {r['seconds'] / cs['steps']:.3f} | {r['warmup_s']:.1f} |")
        if c.get("runs"):
            lines += ["", "| run | graphs / s (all processes), best | every run | warm-up s | load average before | "
                      "command |", "|---|---:|---|---:|---:|---|"]
            for name, r in c["runs"].items():
                every = ", ".join(f"{v:.1f}" for v in r.get("all_graphs_per_s", [r["graphs_per_s"]]))
                lines.append(f"| {name} | {r['graphs_per_s']:.1f} | {every} | {r['warmup_s']:.1f} | "
                             f"{r['load_average_before']:.2f} | `{r['command']}` |")
    lines += ["", "Target of issue 15: >= 530 graphs/s with 2 processes on 2 cores; where the time of a step goes: "
              "`benchmarks/results/profile_train.md`."]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="demo_output/graphs",
                   help="converted graph directory (k 8, max_nodes 1024: the demo's; default demo_output/graphs from make demo)")
    p.add_argument("--steps", type=int, default=8, help="timed steps per variant (default 8)")
    p.add_argument("--warmup", type=int, default=4, help="warm-up steps per variant (default 4)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    p.add_argument("--compile-only", action="store_true",
                   help="only eager (this code) vs compiled, added to an existing train_speed.json of an eager run "
                        "(compilation takes long on a loaded machine)")
    p.add_argument("--no-processes", action="store_true", help="skip the separate 1- and 2-process runs")
    p.add_argument("--process-repeats", type=int, default=2,
                   help="repeat the 1-/2-process sequence this often, keep the best of each (default 2)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="training configuration (default configs/demo.yaml)")
    p.add_argument("--tag", default="", help="suffix of the result files (train_speed[_tag].{json,md})")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", default="", help=argparse.SUPPRESS)
    p.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.config = args.config.resolve()
    torch.set_num_threads(1)
    if args.worker:
        return worker(args)
    torch.set_flush_denormal(True)
    t0 = time.perf_counter()
    res: dict = {"machine": machine(), "command": "python " + " ".join(sys.argv),
                 "config": shown_path(args.config),
                 "batch_size": load_config(args.config).training.batch_size}
    eager, compiled = not args.compile_only, not args.no_compile
    single = single_process(args.config, args.data, args.warmup, args.steps, eager, compiled)
    print("single", json.dumps(single), flush=True)
    runs = {} if args.no_processes else process_runs(args.config, args.data, args.warmup, args.steps, eager, compiled,
                                                      args.process_repeats)
    res["seconds"] = time.perf_counter() - t0
    res["load_average_end"] = round(os.getloadavg()[0], 2)
    stem = "train_speed" + (f"_{args.tag}" if args.tag else "")
    path = args.out / f"{stem}.json"
    if args.compile_only:  # add to the eager run's results
        eager_res = json.loads(path.read_text())
        eager_res["compile"] = {**res, "single": single, "runs": runs}
        res = eager_res
    else:
        res.update({"single": single, "runs": runs})
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1) + "\n")
    write_markdown(res, args.out / f"{stem}.md")
    print((args.out / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
