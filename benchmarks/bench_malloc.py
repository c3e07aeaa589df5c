"""glibc malloc settings (``gvae/allocator.py``): glibc's defaults against the settings ``gvae.simulate`` and
``gvae.evaluate`` apply, side by side in one run. The setting is process-wide, so each figure comes from
a child process, the two settings alternating ``--rounds`` times:

* eager: :meth:`gvae.export.entry.LatentEntryPoints.simulate` and ``reconstruct`` (64 test jets of
  ``--data``) of ``--checkpoint``, one thread, batch 64 (the "gvae" child calls :func:`gvae.allocator.keep_freed_memory`, as the commands do);
* libgvae: ``benchmarks/bench_inference_v2.py`` on ``--export`` (TorchScript and AOTInductor, batch 64,
  the first 128 held-out jets; the "gvae" child gets the same settings through ``GLIBC_TUNABLES``, as a
  C++ host would).

Usage: ``python benchmarks/bench_malloc.py --checkpoint RUN/best.pt --data GRAPHS --export DIR --hits FILE
[--rounds 2]``.
Writes ``benchmarks/results/malloc.json`` and ``malloc.md``.
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

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)

HERE = Path(__file__).resolve().parent
MODES = ("glibc defaults", "gvae settings")


def eager_child(checkpoint: str, data: str, tune: bool) -> dict[str, float]:
    """ms per jet of eager simulate and reconstruct (batch 64, best of 5 x 5 calls) in this process."""
    import torch

    from gvae.allocator import keep_freed_memory
    from gvae.export.entry import LatentEntryPoints
    from gvae.graphs.normalisation import Normalisation
    from gvae.graphs.shards import GraphShards, collate, model_inputs
    from gvae.model import load_model

    if tune:
        assert keep_freed_memory()
    torch.set_num_threads(1)
    loaded = load_model(checkpoint)
    ep = LatentEntryPoints(loaded.model.eval(), loaded.prior).eval()
    b = 64
    gen = torch.Generator().manual_seed(0)
    cond = torch.stack([torch.arange(b).remainder(2).double(), torch.full((b,), 600.0, dtype=torch.float64)], 1)
    latent_noise, count_noise = torch.randn(b, loaded.prior.dim, generator=gen), torch.randn(b, 3, generator=gen)
    shards = GraphShards(data, "test")
    batch = collate([shards[i] for i in range(min(b, len(shards)))])
    inputs = model_inputs(batch, Normalisation.from_dict(loaded.normalisation))
    noise = torch.zeros(len(inputs[0]), *loaded.latent_shape)
    out: dict[str, float] = {}
    calls = {"simulate": lambda: ep.simulate(cond, latent_noise, count_noise),
             "reconstruct": lambda: ep.reconstruct(*inputs, noise, torch.zeros(len(inputs[0]), 3))}
    with torch.no_grad():
        for name, fn in calls.items():
            for _ in range(3):
                fn()
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(5):
                    fn()
                best = min(best, (time.perf_counter() - t0) / 5)
            out[name] = 1e3 * best / b
    return out


def _child_env(mode: str) -> dict[str, str]:
    from gvae.allocator import GLIBC_TUNABLES

    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "GVAE_MALLOC_TUNING")}
    if mode == "gvae settings":
        env["GLIBC_TUNABLES"] = GLIBC_TUNABLES
    return env


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="latent-decoder checkpoint with a prior (eager figures)")
    p.add_argument("--data", required=True, help="graph shards of the same model (eager reconstruct: 64 test jets)")
    p.add_argument("--export", required=True, help="export folder of the same model (libgvae figures)")
    p.add_argument("--hits", required=True, help="held-out jets for the libgvae producer (.gvh or any gvae.io format)")
    p.add_argument("--rounds", type=int, default=2, help="alternations of the two settings (default: 2)")
    p.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(eager_child(args.checkpoint, args.data, args.child == "gvae settings")))
        return 0
    rows: dict[str, dict[str, list[float]]] = {m: {} for m in MODES}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for mode in MODES:
                eager = subprocess.run([sys.executable, __file__, "--checkpoint", args.checkpoint, "--data", args.data,
                                        "--export", args.export, "--hits", args.hits, "--child", mode], capture_output=True, text=True,
                                       check=True, env=_child_env("glibc defaults"))
                for name, v in json.loads(eager.stdout.strip().splitlines()[-1]).items():
                    rows[mode].setdefault(f"eager {name}", []).append(v)
                js = Path(tmp) / "v2.json"
                subprocess.run([sys.executable, str(HERE / "bench_inference_v2.py"), "--export", args.export, "--hits",
                                args.hits, "--formats", "torchscript,aoti", "--batch-sizes", "64", "--repeats", "3",
                                "--intra", "1", "--jets", "128", "--md", str(Path(tmp) / "v2.md"), "--json", str(js)],
                               capture_output=True, text=True, check=True, env=_child_env(mode))
                for r in json.loads(js.read_text())["rows"]:
                    for key, label in (("produce ms/jet", "produce"), ("simulate ms/jet", "simulate")):
                        rows[mode].setdefault(f"libgvae {r['format']} {label}", []).append(r[key])
    result = {"machine": _machine.machine(), "rounds": args.rounds, "load_average_before": load_before,
              "load_average_after": os.getloadavg()[0], "rows": rows,
              "command": f"python benchmarks/bench_malloc.py --checkpoint {args.checkpoint} --data {args.data} "
                         f"--export {args.export} --hits {args.hits} --rounds {args.rounds}"}
    lines = ["# glibc malloc settings (`benchmarks/bench_malloc.py`)", "",
             f"`{result['command']}`; machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
             f"{result['machine']['date']}; one thread; each figure the median over {args.rounds} child processes "
             f"per setting, the settings alternating; 1-minute load average {load_before:.1f} before, "
             f"{result['load_average_after']:.1f} after. 'gvae settings' = mmap threshold 32 MiB and no heap "
             "trimming (`gvae/allocator.py`; what `gvae.simulate` and `gvae.evaluate` set at start).", "",
             "| ms per jet (batch 64) | glibc defaults | gvae settings | ratio |", "|---|---|---|---|"]
    for name in rows[MODES[0]]:
        a, b = statistics.median(rows[MODES[0]][name]), statistics.median(rows[MODES[1]][name])
        lines.append(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    _machine.write_results("malloc", result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
