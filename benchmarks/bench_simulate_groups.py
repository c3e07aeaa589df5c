"""``gvae.simulate``'s decoding in groups of similar size (:data:`gvae.simulate.DECODE_GROUP`) against one
decoder call per chunk, side by side in one run (the two settings alternate ``--rounds`` times):
:meth:`gvae.simulate.Simulator.iter_jets` on ``--jets`` mixed jets, chunks of 256, one thread (prior,
decoding, snapping, images; no file).

Usage: ``python benchmarks/bench_simulate_groups.py --checkpoint RUN/best.pt [--jets 512] [--rounds 3]``.
Writes ``benchmarks/results/simulate_groups.json`` and ``simulate_groups.md``.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)
from gvae.simulate import DECODE_GROUP, Conditions, Simulator, process_labels


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", required=True, help="latent-decoder checkpoint with a prior")
    p.add_argument("--jets", type=int, default=512, help="jets per measurement (default: 512)")
    p.add_argument("--rounds", type=int, default=3, help="alternations of the two settings (default: 3)")
    args = p.parse_args()
    torch.set_num_threads(1)
    sims = {f"groups of {DECODE_GROUP}": Simulator(args.checkpoint), "one call per chunk": Simulator(args.checkpoint,
                                                                                                    decode_group=0)}
    cond = Conditions(process_labels("mixed", args.jets), None)
    times: dict[str, list[float]] = {name: [] for name in sims}
    for sim in sims.values():                                   # warm-up: first calls allocate and pick kernels
        for _ in sim.iter_jets(Conditions(process_labels("mixed", 64), None), 1, 64, progress=False):
            pass
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, sim in sims.items():
            t0 = time.perf_counter()
            for _ in sim.iter_jets(cond, 3, 256, progress=False):
                pass
            times[name].append(time.perf_counter() - t0)
    best = {name: min(t) for name, t in times.items()}
    result = {"machine": _machine.machine(), "checkpoint": str(args.checkpoint), "jets": args.jets, "rounds": args.rounds,
              "seconds": times, "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
              "command": f"python benchmarks/bench_simulate_groups.py --checkpoint {args.checkpoint} --jets {args.jets} "
                         f"--rounds {args.rounds}"}
    base = best["one call per chunk"]
    lines = ["# gvae.simulate: decoding in groups of similar size (`benchmarks/bench_simulate_groups.py`)", "",
             f"`{result['command']}`; machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
             f"{result['machine']['date']}; one thread; {args.jets} mixed jets in chunks of 256 (prior, decoding, "
             f"snapping, images; no file); a warm-up of 64 jets each, then best of {args.rounds} alternating rounds; "
             "1-minute load average "
             f"{load_before:.1f} before, {result['load_average_after']:.1f} after. The packed decoding's width "
             "follows the largest jet of a call, so a chunk decoded at once pays for its largest jet on every jet.",
             "", "| decoding | jets/s | ms per jet | vs one call per chunk |", "|---|---|---|---|"]
    for name, t in best.items():
        lines.append(f"| {name} | {args.jets / t:.1f} | {1e3 * t / args.jets:.2f} | {t / base:.2f} |")
    _machine.write_results("simulate_groups", result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
