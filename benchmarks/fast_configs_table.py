"""One table of the cost/quality trade-off of latent-decoder configurations (issue 15).

Joins, per configuration label: the FLOPs and eager ms per jet of ``bench_fast_configs.py`` (JSON),
the C++ (TorchScript / AOTInductor) ms per jet of ``bench_inference_v2.py --model`` (JSON), and the
demo-scale reconstruction quality of ``python -m gvae.evaluate`` (``per_jet.csv`` of each
evaluation folder): median all-channel EMD with q16-q84, and the median of the per-jet difference
to the reference configuration on the same test jets with a paired bootstrap 68 % interval (the
noise of the comparison).

    python benchmarks/fast_configs_table.py --eager benchmarks/results/fast_configs_eager.json \
        --cpp benchmarks/results/fast_configs_cpp.json --eval default=demo_output/eval \
        --eval fast=runs/fast_eval --out benchmarks/results/fast_configs.md
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def per_jet_emd(folder: Path) -> dict[int, float]:
    """``row -> emd_gvae_all`` [GeV] of an evaluation folder's ``per_jet.csv``."""
    with open(folder / "per_jet.csv", newline="") as f:
        return {int(r["row"]): float(r["emd_gvae_all"]) for r in csv.DictReader(f)}


def paired_median_shift(ref: dict[int, float], other: dict[int, float], seed: int = 0,
                        n_boot: int = 2000) -> tuple[float, float, float]:
    """Median EMD of ``other`` minus that of ``ref`` on their common jets, and the 16/84 % quantiles
    of the same difference over jet-resampled (paired) bootstrap replicas."""
    rows = sorted(set(ref) & set(other))
    a = np.array([ref[r] for r in rows])
    b = np.array([other[r] for r in rows])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rows), size=(n_boot, len(rows)))
    boot = np.median(b[idx], axis=1) - np.median(a[idx], axis=1)
    return float(np.median(b) - np.median(a)), float(np.quantile(boot, 0.16)), float(np.quantile(boot, 0.84))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eager", type=Path, required=True, help="JSON of bench_fast_configs.py")
    p.add_argument("--cpp", type=Path, default=None, help="JSON of bench_inference_v2.py --model (optional)")
    p.add_argument("--eval", action="append", default=[], metavar="LABEL=DIR",
                   help="evaluation folder of a configuration (repeatable)")
    p.add_argument("--reference", default="default", help="label the EMD differences refer to (default: default)")
    p.add_argument("--out", type=Path, required=True, help="markdown table to write")
    args = p.parse_args(argv)
    eager = json.loads(args.eager.read_text())
    cpp = json.loads(args.cpp.read_text()) if args.cpp else {"rows": []}
    evals = {}
    for spec in args.eval:
        label, _, folder = spec.partition("=")
        evals[label] = per_jet_emd(Path(folder))
    labels = list(dict.fromkeys(r["model"] for r in eager["runs"]))
    e = {(r["model"], r["entry"], r["batch"]): r for r in eager["runs"]}
    c = {(r["model"], r["format"], r["batch"]): r for r in cpp["rows"]}
    batches = sorted({r["batch"] for r in eager["runs"]})

    def cell(value: float | None, fmt: str = "{:.2f}") -> str:
        return "-" if value is None else fmt.format(value)

    bs = " / ".join(f"b{b}" for b in batches)
    head = ["config", "decoder H / heads / blocks, summary hits", f"MFLOP/jet reconstruct (simulate), {bs}",
            f"floor ms/jet reconstruct (simulate), {bs}"]
    for b in batches:
        head += [f"reconstruct ms/jet b{b}: eager / TS / AOTI", f"simulate ms/jet b{b}: eager / TS / AOTI"]
    head += ["demo EMD all [GeV] median (q16-q84)", f"median shift vs {args.reference} (paired bootstrap 68 %)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        cfg = e[(label, "reconstruct", batches[-1])]["config"]
        rec = [e[(label, "reconstruct", b)] for b in batches]
        sim = [e[(label, "simulate", b)] for b in batches]
        row = [f"`{label}`", f"{cfg['decoder_hidden']} / {cfg['decoder_heads']} / {cfg['decoder_blocks']}, "
                             f"{cfg['latent_summary_hits']}",
               " / ".join(f"{r['mflop_per_jet']:.1f}" for r in rec) + " (" +
               " / ".join(f"{r['mflop_per_jet']:.1f}" for r in sim) + ")",
               " / ".join(f"{r['floor_ms_per_jet']:.2f}" for r in rec) + " (" +
               " / ".join(f"{r['floor_ms_per_jet']:.2f}" for r in sim) + ")"]
        for b in batches:
            for entry, key in (("reconstruct", "run reconstruct ms/jet"), ("simulate", "run simulate ms/jet")):
                ts = c.get((label, "TorchScript", b), {}).get(key)
                ao = c.get((label, "AOTInductor", b), {}).get(key)
                row.append(f"{cell(e[(label, entry, b)]['eager_ms_per_jet'])} / {cell(ts)} / {cell(ao)}")
        if label in evals:
            v = np.array(list(evals[label].values()))
            row.append(f"{np.median(v):.1f} ({np.quantile(v, 0.16):.1f}-{np.quantile(v, 0.84):.1f})")
            if args.reference in evals and label != args.reference:
                d, lo, hi = paired_median_shift(evals[args.reference], evals[label])
                row.append(f"{d:+.1f} ({lo:+.1f} to {hi:+.1f})")
            else:
                row.append("-")
        else:
            row += ["-", "-"]
        lines.append("| " + " | ".join(row) + " |")
    phases = ["", "FLOPs per jet by module (MFLOP; matmul-type operators, `torch.utils.flop_counter` + CPU "
                  "flash attention; at batch 64 every jet pays the packed width and node count of the batch's "
                  "largest jet):", ""]
    for label in labels:
        for b in batches:
            for entry in ("reconstruct", "simulate"):
                r = e[(label, entry, b)]
                parts = ", ".join(f"{k} {v:.2f}" for k, v in r["mflop_per_jet_by_phase"].items() if v >= 0.05)
                phases.append(f"- `{label}` {entry} b{b} ({r['slots_per_jet']:.0f} real slots/jet): {parts}")
    args.out.write_text("\n".join(lines + phases) + "\n")
    print("\n".join(lines + phases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
