"""Where the time of one inference call goes: the contract v2 entry points ``reconstruct`` and
``simulate`` in eager PyTorch (the module that is exported), per phase and per operator.

Loads a latent-decoder checkpoint into :class:`gvae.export.entry.LatentEntryPoints` (exactly the
module the exports trace) and times, at each batch size, one intra-op thread:

* phases (wall time summed over ``--repeats`` calls, forward hooks on the submodules): kNN
  adjacency, node GraphSAGE, pool 1 (N -> C1) + SAGE, pool 2 + SAGE, latent heads, latent_summary,
  decoder global code + count head, slot queries, each cross-attention block, output head
  (the rest of ``decode``: slot layout, readout, anchors, masking, is "decoder: rest");
* a ``torch.profiler`` table of the top operators by self CPU time.

Snapping to detector cells is not in the exported graph (the C++ Producer/Simulator do it);
its cost is the producer/simulator overhead column of ``benchmarks/results/inference_v2.md``.

    nice -n 10 .venv/bin/python benchmarks/bench_profile_infer.py --checkpoint demo_output/run/best.pt \
        --data demo_output/graphs --batch-sizes 1,64 --tag before
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load_average, machine  # noqa: E402

from gvae.export.source import load_source  # noqa: E402
from gvae.export.verify import held_out_inputs, simulate_conditions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class PhaseTimer:
    """Wall time per named submodule (forward pre/post hooks), summed over calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._start: dict[str, float] = {}

    def attach(self, name: str, module: torch.nn.Module) -> None:
        def pre(_m, _a):
            self._start[name] = time.perf_counter()

        def post(_m, _a, _o):
            self.seconds[name] += time.perf_counter() - self._start.pop(name)
        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)


def _phases(entry: torch.nn.Module, timer: PhaseTimer) -> None:
    enc = entry.encoder
    timer.attach("encoder: kNN adjacency", entry.adjacency)
    timer.attach("encoder: node GraphSAGE", enc.nodes)
    for i, stage in enumerate(enc.stages):
        timer.attach(f"encoder: pool {i + 1} + SAGE", stage)
    timer.attach("latent heads", entry.latent)
    timer.attach("latent_summary", entry.summary)
    timer.attach("decoder: global code", entry.decoder.glob)
    timer.attach("decoder: count head", entry.decoder.count_head)
    timer.attach("decoder: slot queries (MLP)", entry.decoder.query)
    for i, block in enumerate(entry.decoder.blocks):
        timer.attach(f"decoder: block {i + 1} (cross-attention + MLP)", block)
    timer.attach("decoder: output head", entry.decoder.head)


def _run(fn, args, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.inference_mode():
            fn(*args)
        times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("demo_output/run/best.pt"),
                   help="latent-decoder training checkpoint (default demo_output/run/best.pt from make demo)")
    p.add_argument("--data", type=Path, default=Path("demo_output/graphs"),
                   help="graph directory whose test split feeds reconstruct (default demo_output/graphs)")
    p.add_argument("--batch-sizes", default="1,64", help="comma-separated batch sizes (default 1,64)")
    p.add_argument("--repeats", type=int, default=10, help="timed calls per batch size (default 10)")
    p.add_argument("--top", type=int, default=15, help="operators listed per profile (default 15)")
    p.add_argument("--tag", default="", help="suffix of the result files (profile_infer[_tag].{md,json})")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    source = load_source(args.checkpoint)
    entry = source.model.eval()
    timer = PhaseTimer()
    _phases(entry, timer)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    cpu = torch.device("cpu")
    load_before = load_average()
    results: dict = {"machine": machine(), "command": "python benchmarks/bench_profile_infer.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "runs": []}
    for b in sizes:
        features, neighbours, mask = held_out_inputs(args.data, source, b, cpu)
        noise = torch.zeros(b, source.clusters, source.latent_dim)
        cnoise = torch.zeros(b, 3)
        cond = simulate_conditions(source, b)
        lnoise = torch.zeros(b, source.clusters * source.latent_dim)
        calls = {"reconstruct": (entry.reconstruct, (features, neighbours, mask, noise, cnoise)),
                 "simulate": (entry.simulate, (cond, lnoise, cnoise))}
        for name, (fn, fargs) in calls.items():
            _run(fn, fargs, 2)                                    # warm-up
            timer.seconds.clear()
            times = _run(fn, fargs, args.repeats)
            total = sum(times)
            with torch.inference_mode():
                out = fn(*fargs)
            slots = int(out[2].sum())
            phases = {k: v / total for k, v in timer.seconds.items()}
            phases["decoder: rest (layout, readout, anchors, masking)"] = max(0.0, 1.0 - sum(phases.values()))
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                _run(fn, fargs, 3)
            ops = []
            for ev in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:args.top]:
                ops.append({"op": ev.key, "calls": ev.count // 3, "self_ms": ev.self_cpu_time_total / 3e3})
            op_total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 3e3
            results["runs"].append({
                "entry": name, "batch": b, "ms_per_call": 1e3 * sorted(times)[len(times) // 2],
                "ms_per_jet": 1e3 * sorted(times)[len(times) // 2] / b, "real_slots_per_jet": slots / b,
                "output_slots": int(out[2].shape[1]), "phase_share": phases, "ops": ops,
                "op_total_ms": op_total})
            print(f"{name} batch {b}: {1e3 * sorted(times)[len(times) // 2] / b:.2f} ms/jet", flush=True)
    results["load_average"] = [load_before, load_average()]
    suffix = f"_{args.tag}" if args.tag else ""
    (RESULTS / f"profile_infer{suffix}.json").write_text(json.dumps(results, indent=1))
    lines = [f"# Eager profile of the contract v2 entry points ({results['machine']['cpu']}, "
             f"{results['machine']['cores']} cores, torch {torch.__version__}, 1 intra-op thread, "
             f"load average {load_before} before, {results['load_average'][1]} after)", "",
             f"Command: `{results['command']}`", "",
             "Module: `LatentEntryPoints` (what `python -m gvae.export` traces), eager, `torch.inference_mode`; "
             "reconstruct on the first held-out graphs of the test split, simulate on conditions drawn as "
             "`--verify` does; zero noises (deterministic decoding). Median of the timed calls; phase shares "
             "are wall time of forward hooks summed over the calls.", ""]
    for run in results["runs"]:
        lines += [f"## {run['entry']}, batch {run['batch']}: {run['ms_per_jet']:.2f} ms per jet "
                  f"({run['ms_per_call']:.1f} ms per call; {run['real_slots_per_jet']:.0f} real slots per jet, "
                  f"{run['output_slots']} output slots)", "", "| phase | share |", "|---|---:|"]
        for k, v in sorted(run["phase_share"].items(), key=lambda kv: -kv[1]):
            if v > 0.0005:
                lines.append(f"| {k} | {100 * v:.1f} % |")
        lines += ["", "| op (top by self CPU) | calls | self ms per call | share |", "|---|---:|---:|---:|"]
        for op in run["ops"]:
            lines.append(f"| {op['op']} | {op['calls']} | {op['self_ms']:.2f} | "
                         f"{100 * op['self_ms'] / run['op_total_ms']:.1f} % |")
        lines.append("")
    (RESULTS / f"profile_infer{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
