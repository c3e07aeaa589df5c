"""Simulation benchmark: ``python -m gvae.simulate`` (prior -> latent decoder -> detector snapping ->
file) against ``python -m gvae.data generate`` (Pythia 8 + FastJet + the parametrised detector), the
simulation it replaces, in the same run on the same machine, both writing the same format.

Usage: ``python benchmarks/bench_simulate.py --checkpoint RUN/best.pt [--jets 256] [--threads 1]``.
Writes ``benchmarks/results/simulate.json`` and ``simulate.md`` (jets/s, with the load average).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)
from gvae.data.generate import generate_to_file
from gvae.simulate import Conditions, process_labels, simulate_to_file



def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", required=True, help="latent-decoder checkpoint with a prior")
    p.add_argument("--jets", type=int, default=256, help="jets per measurement (default: 256)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads for simulate (default: 1)")
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for process in ("ttbar", "qcd"):
            out = Path(tmp) / f"sim_{process}.parquet"
            t0 = time.perf_counter()
            simulate_to_file(args.checkpoint, out, Conditions(process_labels(process, args.jets), None), args.seed,
                             progress=False)
            t_sim = time.perf_counter() - t0
            out = Path(tmp) / f"gen_{process}.parquet"
            t0 = time.perf_counter()
            generate_to_file(process, args.jets, args.seed, out, workers=1, progress=False)
            t_gen = time.perf_counter() - t0
            rows.append({"process": process, "jets": args.jets, "simulate_s": t_sim, "generate_s": t_gen,
                         "simulate_jets_per_s": args.jets / t_sim, "generate_jets_per_s": args.jets / t_gen,
                         "speedup": t_gen / t_sim})
    from gvae.model import load_model

    latent = list(load_model(args.checkpoint).latent_shape)
    result = {"machine": _machine.machine("pythia8mc", "fastjet"), "checkpoint": str(args.checkpoint),
              "latent": latent, "threads": args.threads, "generate_workers": 1,
              "load_average_before": load_before, "load_average_after": os.getloadavg()[0], "rows": rows,
              "command": f"python benchmarks/bench_simulate.py --checkpoint {args.checkpoint} --jets {args.jets} "
                         f"--threads {args.threads}"}
    lines = ["# Simulation benchmark (`benchmarks/bench_simulate.py`)", "",
             f"`{result['command']}` (checkpoint latent {latent[0]} x {latent[1]}; machine: "
             f"{result['machine']['cpu']}, {result['machine']['cores']} cores, {result['machine']['date']}); "
             "gvae.data generate includes in-time pile-up from the cached minimum-bias library; both write parquet, both include start-up (model load / Pythia init) and file "
             f"writing; simulate with {args.threads} torch thread(s), generate with 1 worker. 1-minute load average "
             f"{load_before:.1f} before, {result['load_average_after']:.1f} after (2-core machine shared with other "
             "jobs: read ratios, not absolute rates).", "",
             "| process | jets | gvae.simulate jets/s | gvae.data generate jets/s | ratio |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['process']} | {r['jets']} | {r['simulate_jets_per_s']:.1f} | {r['generate_jets_per_s']:.1f} "
                     f"| {r['speedup']:.1f}x |")
    _machine.write_results("simulate", result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
