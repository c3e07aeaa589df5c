"""Roofline of the inference figures: FLOPs per jet over this CPU's measured single-thread peak.

    python benchmarks/bench_roofline.py [--flops benchmarks/results/fast_configs_eager.json]
        [--measured benchmarks/results/inference_cpp_sorted.jsonl] [--repeats 7]

Measures the single-thread sgemm peak (1024^3) and copy bandwidth now (``bench_knn.peaks``; run it
on a quiet machine: the peak in ``knn.md`` and ``fast_configs.md``, 11.5 GFLOP/s, was measured at load
13-22 and is several times too low), takes the FLOPs per jet of the default and the fast
configuration from ``--flops`` (``bench_fast_configs.py``: matmul-type operators, batch 1 and 64;
at batch 64 every jet pays its batch's largest jet, batch 1 is what size-sorted batches approach)
and the C++ ms per jet from ``--measured`` (``bench_inference_cpp``, batch 64, sorted), and writes
``FLOPs / peak`` (the compute floor of one jet on one core) beside the measured time.
Writes ``benchmarks/results/roofline.md`` and ``roofline.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load_average, machine  # noqa: E402
from bench_knn import peaks  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: label in --flops -> (label here, substring of the model path in --measured)
MODELS = {"default": ("default (configs/demo.yaml)", "demo_export"),
          "blocks0_hits4": ("fast (configs/fast.yaml)", "fast_export")}
ENTRIES = {"reconstruct": "reconstruct_ms_per_jet", "simulate": "simulate_ms_per_jet"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flops", type=Path, default=RESULTS / "fast_configs_eager.json",
                   help="FLOPs per jet by model, entry and batch (bench_fast_configs.py output; default "
                        "benchmarks/results/fast_configs_eager.json)")
    p.add_argument("--measured", type=Path, default=RESULTS / "inference_cpp_sorted.jsonl",
                   help="bench_inference_cpp JSON lines, batch 64 (default benchmarks/results/inference_cpp_sorted.jsonl)")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats of each peak measurement, best kept (default 7)")
    p.add_argument("--out", type=Path, default=RESULTS / "roofline",
                   help="output stem: STEM.md and STEM.json (default benchmarks/results/roofline)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    load_before = load_average()
    peak = peaks(args.repeats)
    load_after = load_average()
    flops = json.loads(args.flops.read_text())["runs"]
    measured = [json.loads(line) for line in args.measured.read_text().splitlines() if line.strip()]
    rows = []
    for key, (label, path_part) in MODELS.items():
        for entry, column in ENTRIES.items():
            mf = {r["batch"]: r["mflop_per_jet"] for r in flops if r["model"] == key and r["entry"] == entry}
            for m in (r for r in measured if path_part in r["model"] and r["batch_size"] == 64):
                floors = {b: mf[b] / 1e3 / peak["sgemm_1024_gflops"] * 1e3 for b in (1, 64)}
                ms = m[column]
                rows.append({"model": label, "entry": entry, "format": m["format"], "mflop_b1": mf[1],
                             "mflop_b64": mf[64], "floor_ms_b1": floors[1], "floor_ms_b64": floors[64],
                             "measured_ms": ms, "over_floor_b1": ms / floors[1], "over_floor_b64": ms / floors[64]})
    result = {"machine": machine(), "load_average": [load_before, load_after], "peak": peak, "rows": rows,
              "command": "python benchmarks/bench_roofline.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Roofline: FLOPs per jet over the measured single-thread peak (`benchmarks/bench_roofline.py`)", "",
             f"Command: `{result['command'].strip()}`", "",
             f"Machine: {json.dumps(result['machine'])}; 1-minute load average {load_before} before, {load_after} after.",
             f"Measured now, one thread: sgemm 1024^3 **{peak['sgemm_1024_gflops']:.1f} GFLOP/s**, copy "
             f"{peak['copy_gb_per_s']:.1f} GB/s. FLOPs per jet from `{args.flops.name}` (matmul-type operators; "
             "batch 64 pays each batch's largest jet, batch 1 is the lower bound that size-sorted batches "
             f"approach); measured ms per jet from `{args.measured.name}` (C++, batch 64, jets sorted by size).", "",
             "| model | entry | format | MFLOP/jet b1 / b64 | floor ms/jet b1 / b64 | measured ms/jet | measured / floor (b1 / b64 FLOPs) |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['entry']} | {r['format']} | {r['mflop_b1']:.1f} / {r['mflop_b64']:.1f} | "
                     f"{r['floor_ms_b1']:.3f} / {r['floor_ms_b64']:.3f} | {r['measured_ms']:.3f} | "
                     f"{r['over_floor_b1']:.1f}x / {r['over_floor_b64']:.1f}x |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
