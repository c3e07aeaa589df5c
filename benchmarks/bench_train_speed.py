"""Training speed of the encoder formulations: dense vs kNN list, eager vs ``torch.compile``,
denormals flushed or not, 1 and 2 processes, the real loader's data wait, and a profile.

Demo architecture (``bench_train.DEMO``: hidden 32, 400 nodes, clusters [100, 50], paper decoder),
batch ``--batch`` per process, one intra-op thread per process. Measurements of one table are
alternated in one process (shared machine: the minimum of the repeats, and ratios). Writes
``benchmarks/results/train_speed.json`` and ``train_speed.md``.

    .venv/bin/python benchmarks/bench_train_speed.py                  # ~10 min on 2 busy cores
    .venv/bin/python benchmarks/bench_train_speed.py --no-compile --steps 3
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import DEMO, bench_data_wait, graphs, machine, model_batch  # noqa: E402

from gvae.model import GVAE, LossConfig, ModelConfig, gvae_loss  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def make_step(mode: str, compiled: bool, batch):
    """A closure running one optimiser step of a fresh seeded demo model."""
    torch.manual_seed(0)
    model = GVAE(ModelConfig(max_nodes=400, k=8, message_passing=mode, **DEMO))
    fwd = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    f, nb, m = batch
    noise = torch.randn(len(f), 50, 16, generator=torch.Generator().manual_seed(1))

    def step() -> None:
        out = fwd(f, nb, m, noise)
        loss, _ = gvae_loss(out, f, m, LossConfig(), 1.4)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def timed(steps: dict, repeats: int, flush: dict[str, bool]) -> dict[str, float]:
    """Alternate the step closures; minimum seconds per step of each."""
    out: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            torch.set_flush_denormal(flush[name])
            t0 = time.perf_counter()
            step()
            out[name].append(time.perf_counter() - t0)
    torch.set_flush_denormal(False)
    return {k: min(v) for k, v in out.items()}


def single_process(batch_size: int, repeats: int, compile_too: bool) -> dict:
    batch = model_batch(graphs(batch_size, 400, seed=3))
    variants = {"dense eager": ("dense", False, True), "knn eager": ("knn", False, True),
                "knn eager, denormals kept": ("knn", False, False),
                "dense eager, denormals kept": ("dense", False, False)}
    if compile_too:
        variants["knn compiled"] = ("knn", True, True)
    steps, flush, compile_s = {}, {}, {}
    for name, (mode, comp, fl) in variants.items():
        steps[name] = make_step(mode, comp, batch)
        flush[name] = fl
        torch.set_flush_denormal(fl)
        t0 = time.perf_counter()
        steps[name]()  # warm-up (and compilation)
        steps[name]()
        compile_s[name] = time.perf_counter() - t0
        torch.set_flush_denormal(False)
        print("warm", name, f"{compile_s[name]:.1f} s", flush=True)
    sec = timed(steps, repeats, flush)
    return {name: {"s_per_step": s, "graphs_per_s": batch_size / s, "warmup_s": compile_s[name]}
            for name, s in sec.items()}


def worker(args: argparse.Namespace) -> None:
    """One process of the 2-process (DDP, gloo) throughput run."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    import torch.distributed as dist
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = GVAE(ModelConfig(max_nodes=400, k=8, message_passing=args.mode, **DEMO))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    fwd = torch.compile(ddp) if args.compiled else ddp
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    f, nb, m = model_batch(graphs(args.batch, 400, seed=10 + rank))
    noise = torch.randn(len(f), 50, 16)

    def step() -> None:
        out = fwd(f, nb, m, noise)
        loss, _ = gvae_loss(out, f, m, LossConfig(), 1.4)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for _ in range(2):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = torch.tensor([time.perf_counter() - t0])
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    if rank == 0:
        Path(args.worker_out).write_text(json.dumps({"seconds": float(elapsed)}))
    dist.barrier()
    dist.destroy_process_group()


def two_processes(batch: int, steps: int, compile_too: bool) -> dict:
    out = {}
    runs = [("knn", False), ("dense", False)] + ([("knn", True)] if compile_too else [])
    with tempfile.TemporaryDirectory() as tmp:
        for mode, comp in runs:
            path = Path(tmp) / f"{mode}{comp}.json"
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29641",
                   __file__, "--worker", "--worker-out", str(path), "--steps", str(steps), "--batch", str(batch),
                   "--mode", mode] + (["--compiled"] if comp else [])
            subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                           timeout=1200)
            sec = json.loads(path.read_text())["seconds"]
            name = f"{mode} {'compiled' if comp else 'eager'}"
            out[name] = {"seconds": sec, "steps": steps, "batch_per_process": batch,
                         "graphs_per_s": 2 * batch * steps / sec}
            print("2proc", name, json.dumps(out[name]), flush=True)
    return out


def profile_step(batch_size: int, mode: str) -> list[dict]:
    """Top operators (self CPU time) of three knn training steps, with input shapes."""
    batch = model_batch(graphs(batch_size, 400, seed=3))
    step = make_step(mode, False, batch)
    torch.set_flush_denormal(True)
    step()
    with torch.profiler.profile(record_shapes=True) as prof:
        for _ in range(3):
            step()
    torch.set_flush_denormal(False)
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    rows = []
    for e in sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)[:15]:
        rows.append({"op": e.key, "shapes": str(e.input_shapes)[:90], "share": e.self_cpu_time_total / total})
    return rows


def encoder_share(batch_size: int, repeats: int) -> dict:
    """fwd+bwd seconds of the whole training step vs the encoder + latent alone (same model),
    per formulation: how much of a step the paper decoder takes."""
    f, nb, m = model_batch(graphs(batch_size, 400, seed=3))
    noise = torch.randn(batch_size, 50, 16)
    fns = {}
    for mode in ("knn", "dense"):
        torch.manual_seed(0)
        model = GVAE(ModelConfig(max_nodes=400, k=8, message_passing=mode, **DEMO))

        def full(model=model) -> None:
            loss, _ = gvae_loss(model(f, nb, m, noise), f, m, LossConfig(), 1.4)
            model.zero_grad()
            loss.backward()

        def enc(model=model) -> None:
            h, _, _, mc, oc = model.encoder.forward_with_losses(f, model.adjacency(nb, m), m)
            mu, lv = model.latent(h)
            model.zero_grad()
            (mu.square().mean() + lv.mean() + torch.stack(mc).sum() + torch.stack(oc).sum()).backward()
        fns[f"{mode} full step"], fns[f"{mode} encoder+latent"] = full, enc
    torch.set_flush_denormal(True)
    sec = timed(fns, repeats + 1, {k: True for k in fns})
    return {k: {"s_per_step": v} for k, v in sec.items()}


def write_markdown(res: dict, path: Path) -> None:
    m = res["machine"]
    lines = [f"# Training speed: dense vs kNN encoder, eager vs compiled ({m['cpu']}, {m['cores']} cores, "
             f"torch {m['torch']}, load average {m['load_average_1min']:.2f} at start, "
             f"{res['load_average_end']:.2f} at end)", "",
             f"Command: `{res['command']}` ({res['seconds']:.0f} s). Demo architecture, 400 nodes, paper decoder, "
             f"one intra-op thread per process. Single process: batch {res['batch']}, minimum of "
             f"{res['repeats']} alternated steps.", "",
             "| variant (1 process) | s / step | graphs / s | warm-up s (incl. compile) |", "|---|---:|---:|---:|"]
    for name, r in res["single"].items():
        lines.append(f"| {name} | {r['s_per_step']:.3f} | {r['graphs_per_s']:.1f} | {r['warmup_s']:.1f} |")
    if res.get("two"):
        lines += ["", "| variant (2 processes, DDP gloo, 1 thread each) | graphs / s (both) |", "|---|---:|"]
        lines += [f"| {name} | {r['graphs_per_s']:.1f} |" for name, r in res["two"].items()]
    if res.get("data_wait"):
        d = res["data_wait"]
        lines += ["", f"Real loader (GraphShards -> DataLoader -> Trainer.train_epoch, default model = kNN, {d['jets']} "
                  f"jets, batch {d['batch']}): data wait {100 * d['data_wait_share']:.2f} % of the epoch, "
                  f"{d['graphs_per_s']:.1f} graphs/s."]
    if res.get("split"):
        sp = res["split"]
        lines += ["", "Forward + backward of one step (batch 16, no optimiser), whole model vs encoder + latent "
                  f"alone (alternated in one process, denormals flushed; `{res.get('split_command', res['command'])}`, "
                  f"load average {res.get('split_load_average', res['load_average_end']):.2f}):", "",
                  "| formulation | whole step s | encoder + latent s | decoder + loss share |", "|---|---:|---:|---:|"]
        for mode in ("knn", "dense"):
            a, b = sp[f"{mode} full step"]["s_per_step"], sp[f"{mode} encoder+latent"]["s_per_step"]
            lines.append(f"| {mode} | {a:.3f} | {b:.3f} | {100 * (1 - b / a):.0f} % |")
    lines += ["", "Profile of a kNN training step (self CPU time share, top operators):", "",
              "| op | input shapes | share |", "|---|---|---:|"]
    lines += [f"| {r['op']} | `{r['shapes']}` | {100 * r['share']:.1f} % |" for r in res["profile"]]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16, help="jets per batch per process (default 16, the demo's)")
    p.add_argument("--repeats", type=int, default=4, help="alternated timed steps per variant (default 4)")
    p.add_argument("--steps", type=int, default=6, help="timed steps of the 2-process runs (default 6)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    p.add_argument("--no-two", action="store_true", help="skip the 2-process runs")
    p.add_argument("--wait-jets", type=int, default=96, help="jets of the data-wait epoch (default 96)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", default="", help=argparse.SUPPRESS)
    p.add_argument("--mode", default="knn", help=argparse.SUPPRESS)
    p.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--split-only", action="store_true",
                   help="only (re)measure the whole-step vs encoder split into an existing train_speed.json")
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.split_only:
        torch.set_num_threads(1)
        path = args.out / "train_speed.json"
        res = json.loads(path.read_text())
        res["split"] = encoder_share(args.batch, args.repeats)
        res["split_command"] = "python " + " ".join(sys.argv)
        res["split_load_average"] = os.getloadavg()[0]
        path.write_text(json.dumps(res, indent=1) + "\n")
        write_markdown(res, args.out / "train_speed.md")
        print((args.out / "train_speed.md").read_text())
        return None
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    res: dict = {"machine": machine(), "command": "python " + " ".join(sys.argv), "batch": args.batch,
                 "repeats": args.repeats}
    res["single"] = single_process(args.batch, args.repeats, not args.no_compile)
    print("single", json.dumps(res["single"]), flush=True)
    res["profile"] = profile_step(args.batch, "knn")
    res["split"] = encoder_share(args.batch, args.repeats)
    res["two"] = {} if args.no_two else two_processes(args.batch, args.steps, not args.no_compile)
    torch.set_flush_denormal(True)
    res["data_wait"] = bench_data_wait(args.wait_jets)
    torch.set_flush_denormal(False)
    print("data_wait", json.dumps(res["data_wait"]), flush=True)
    res["seconds"] = time.perf_counter() - t0
    res["load_average_end"] = os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_speed.json").write_text(json.dumps(res, indent=1) + "\n")
    write_markdown(res, args.out / "train_speed.md")
    print((args.out / "train_speed.md").read_text())


if __name__ == "__main__":
    main()
