"""Training benchmarks (CPU by default): throughput fp32 vs bf16, 1 vs 2 process weak scaling,
data-wait share of the step time, forward time against the number of nodes.

Writes ``benchmarks/results/train.json`` and ``train.md``. Inputs are real graphs
(:func:`gvae.graphs.build.build_graph`) of synthetic jet-like hits, or a converted shard directory
(``--data``). Weak-scaling efficiency as in the paper (arXiv 2022 GVAE, Fig. 5): every process
does the same work W (``--steps`` steps of ``--batch`` jets); speedup = N * T_1 / T_N and
efficiency = speedup / N = T_1 / T_N, with T_N the wall time of the N-process run.

    .venv/bin/python benchmarks/bench_train.py            # ~2 min on 2 cores
    .venv/bin/python benchmarks/bench_train.py --steps 20 --nodes 200 400 800 1600 3200
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gvae import geometry
from gvae.graphs.build import Hits, build_graph, stack_graphs
from gvae.model import GVAE, LossConfig, ModelConfig, gvae_loss
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.shards import FORMAT_VERSION, ShardWriter, write_metadata

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
DEMO = dict(hidden=32, clusters=[100, 50], encoder_layers=[2, 1, 1], decoder_layers=[1, 1, 2],
            latent_dim=16, assignment_temperature=0.1)


def _hits(rng: np.random.Generator, n: int) -> Hits:
    centres = rng.normal(geometry.CENTRE_PIXEL, 8.0, size=(3, 2))
    pos = np.clip(np.rint(centres[rng.integers(0, 3, n)] + rng.normal(0, 6.0, (n, 2))), 0, 124).astype(np.int64)
    return Hits(rng.integers(0, 3, n), pos[:, 0], pos[:, 1], (rng.exponential(2.0, n) + 0.05).astype(np.float32))


def graphs(n_jets: int, max_nodes: int, k: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Stacked graphs with ~0.7-1.1 x max_nodes hits each (most jets padded, some truncated)."""
    rng = np.random.default_rng(seed)
    return stack_graphs([build_graph(_hits(rng, int(rng.integers(int(0.7 * max_nodes), int(1.3 * max_nodes)))),
                                     k, max_nodes, i) for i in range(n_jets)], k, max_nodes)


def model_batch(arrays: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mask = torch.from_numpy(arrays["mask"])
    norm = Normalisation.compute(arrays["features"], arrays["mask"])
    return norm.apply(torch.from_numpy(arrays["features"]), mask), torch.from_numpy(arrays["neighbours"]), mask


def train_steps(model: torch.nn.Module, batch, steps: int, amp: str, optimizer=None) -> float:
    """Seconds per optimiser step (after one warm-up step)."""
    f, nb, m = batch
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=1e-3)
    noise = torch.randn(len(f), 50, 16)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
            out = model(f, nb, m, noise)
            loss, _ = gvae_loss(out, f, m, LossConfig(), 1.4)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_amp(batch, steps: int) -> dict:
    out = {}
    for amp in ("off", "bf16"):
        torch.manual_seed(0)
        model = GVAE(ModelConfig(max_nodes=400, k=8, **DEMO))
        sec = train_steps(model, batch, steps, amp)
        out[amp] = {"s_per_step": sec, "graphs_per_s": len(batch[0]) / sec}
    out["bf16_over_fp32_throughput"] = out["bf16"]["graphs_per_s"] / out["off"]["graphs_per_s"]
    return out


def worker(args: argparse.Namespace) -> None:
    """One process of the weak-scaling run (launched by torchrun or alone)."""
    torch.set_num_threads(1)
    distributed = "RANK" in os.environ
    if distributed:
        import torch.distributed as dist
        dist.init_process_group("gloo")
        rank = dist.get_rank()
    else:
        rank = 0
    torch.manual_seed(0)
    model = GVAE(ModelConfig(max_nodes=400, k=8, **DEMO))
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model)
    batch = model_batch(graphs(args.batch, 400, seed=rank))
    train_steps(model, batch, 1, "off")  # warm-up (and DDP bucket set-up)
    if distributed:
        dist.barrier()
    t0 = time.perf_counter()
    train_steps(model, batch, args.steps - 1, "off")
    elapsed = torch.tensor([time.perf_counter() - t0])
    if distributed:
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    if rank == 0:
        Path(args.worker_out).write_text(json.dumps({"seconds": float(elapsed)}))
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def bench_scaling(steps: int, batch: int) -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2):
            out = Path(tmp) / f"n{n}.json"
            base = [__file__, "--worker", "--worker-out", str(out), "--steps", str(steps), "--batch", str(batch)]
            cmd = [sys.executable, *base] if n == 1 else \
                [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_port", "29631", *base]
            subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                           timeout=600)
            results[n] = json.loads(out.read_text())["seconds"]
    speedup = 2 * results[1] / results[2]
    return {"steps_per_process": steps, "batch_per_process": batch, "seconds_1proc": results[1],
            "seconds_2proc": results[2], "speedup_2proc": speedup, "efficiency_2proc": speedup / 2}


def bench_data_wait(n_jets: int) -> dict:
    """One epoch of the real training loop (GraphShards -> DataLoader -> model) on 400-node graphs."""
    from gvae.train.config import Config
    from gvae.train.loop import RunOptions, Trainer

    with tempfile.TemporaryDirectory() as tmp:
        arrays = graphs(n_jets + 32, 400, seed=5)
        norm = Normalisation.compute(arrays["features"][:n_jets], arrays["mask"][:n_jets])
        arrays["neighbours"] = arrays["neighbours"].astype(np.int16)
        n = len(arrays["features"])
        arrays.update(pt=np.zeros(n, np.float32), m0=np.zeros(n, np.float32), y=np.zeros(n, np.float32),
                      row=np.arange(n, dtype=np.int64))
        splits = {}
        for split, sl in (("train", slice(0, n_jets)), ("val", slice(n_jets, n)), ("test", slice(n, n))):
            with ShardWriter(Path(tmp) / split, 1024, 8, 400) as w:
                part = {key: v[sl] for key, v in arrays.items()}
                if len(part["features"]):
                    w.add(part)
            splits[split] = {"count": w.count, "shards": w.shards, "shard_counts": [w.count] if w.count else []}
        write_metadata(tmp, {"format_version": FORMAT_VERSION, "k": 8, "max_nodes": 400, "splits": splits,
                             "normalisation": norm.to_dict(), "source": "bench", "seed": 5})
        cfg = Config.from_dict({"model": dict(DEMO, max_nodes=400, k=8),
                                "training": {"epochs": 1, "batch_size": 16, "lr_reference_batch": 16}})
        trainer = Trainer(cfg, RunOptions(tmp, str(Path(tmp) / "run"), device="cpu", progress=False))
        train = trainer.train_epoch()
    return {"jets": n_jets, "batch": 16, "data_wait_share": train["data_wait_share"],
            "graphs_per_s": train["graphs_per_s"]}


def bench_nodes(nodes: list[int], batch: int, repeats: int = 3) -> list[dict]:
    rows = []
    for n in nodes:
        torch.manual_seed(0)
        cfg = ModelConfig(max_nodes=n, k=8, **dict(DEMO, clusters=[max(50, n // 4), 50]))
        model = GVAE(cfg).eval()
        f, nb, m = model_batch(graphs(batch, n, seed=n))
        times = []
        with torch.no_grad():
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                model(f, nb, m)
                if i:
                    times.append(time.perf_counter() - t0)
        rows.append({"nodes": n, "clusters": cfg.clusters, "batch": batch,
                     "forward_ms_per_graph": 1000 * statistics.median(times) / batch})
    base = rows[0]["forward_ms_per_graph"]
    for r in rows:
        r["relative_to_first"] = r["forward_ms_per_graph"] / base
    return rows


def machine() -> dict:
    """The machine (benchmarks/_machine.py)."""
    return _machine.machine()


def write_markdown(res: dict, path: Path) -> None:
    m, a, s, d = res["machine"], res["amp"], res["scaling"], res["data_wait"]
    lines = [f"# Training benchmark ({m['cpu']}, {m['cores']} cores, torch {m['torch']}, "
             f"load average {m['load_average_1min']})", "",
             "| measure | value |", "|---|---|",
             f"| fp32 training throughput (demo model, 400 nodes, batch {a['batch']}) | {a['off']['graphs_per_s']:.1f} graphs/s |",
             f"| bf16 autocast throughput | {a['bf16']['graphs_per_s']:.1f} graphs/s |",
             f"| bf16 / fp32 throughput | {a['bf16_over_fp32_throughput']:.2f} |",
             f"| weak scaling 1 -> 2 processes: T1, T2 | {s['seconds_1proc']:.2f} s, {s['seconds_2proc']:.2f} s |",
             f"| speedup (2 T1 / T2), efficiency (T1 / T2) | {s['speedup_2proc']:.2f}, {s['efficiency_2proc']:.2f} |",
             f"| data-wait share of step time (real loader, {d['jets']} jets) | {100 * d['data_wait_share']:.2f} % |",
             "", "| nodes | clusters | forward ms / graph | relative |", "|---|---|---|---|"]
    lines += [f"| {r['nodes']} | {r['clusters']} | {r['forward_ms_per_graph']:.1f} | {r['relative_to_first']:.2f} |"
              for r in res["nodes"]]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5, help="timed optimiser steps per measurement (default 5)")
    p.add_argument("--batch", type=int, default=16, help="jets per batch for throughput (default 16)")
    p.add_argument("--scaling-batch", type=int, default=8, help="jets per process for weak scaling (default 8)")
    p.add_argument("--wait-jets", type=int, default=96, help="jets in the data-wait epoch (default 96)")
    p.add_argument("--nodes", type=int, nargs="+", default=[200, 400, 800, 1600], help="node counts")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the single-process measurements (default 1, as each process of the "
                        "2-process run; robust on a shared machine)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    batch = model_batch(graphs(args.batch, 400))
    res = {"machine": machine(), "amp": dict(bench_amp(batch, args.steps), batch=args.batch)}
    print("amp", json.dumps(res["amp"]), flush=True)
    res["scaling"] = bench_scaling(args.steps, args.scaling_batch)
    print("scaling", json.dumps(res["scaling"]), flush=True)
    res["data_wait"] = bench_data_wait(args.wait_jets)
    print("data_wait", json.dumps(res["data_wait"]), flush=True)
    res["nodes"] = bench_nodes(args.nodes, batch=2)
    print("nodes", json.dumps(res["nodes"]), flush=True)
    res["seconds"] = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train.json").write_text(json.dumps(res, indent=1) + "\n")
    write_markdown(res, args.out / "train.md")
    print((args.out / "train.md").read_text())


if __name__ == "__main__":
    main()
