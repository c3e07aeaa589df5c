"""Graph building benchmark: graphs/s of the Python builder (gvae.graphs.build) and the C++ builder
(gvae::GraphBuilder through gvae._core) on the same generated jets, side by side in one run, with a
check that both give identical arrays, plus the truncation statistics of the sample.

Writes ``benchmarks/results/graph.json`` and ``graph.md``. Default: 96 generated mixed jets
(~1 min on 2 cores including generation); ``--jets N`` for more, ``--input FILE`` to use a file.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gvae import _core, io
from gvae.graphs.build import build_graphs

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("features", "pixels", "neighbours", "mask", "n_nodes", "n_hits", "total_energy", "dropped_energy_fraction")


def machine() -> dict:
    """The machine (benchmarks/_machine.py)."""
    return _machine.machine()


def best_rate(fn, n_jets: int, repeats: int) -> tuple[float, float]:
    """(best, median) graphs/s over ``repeats`` runs of ``fn()`` building ``n_jets`` graphs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n_jets / min(times), n_jets / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jets", type=int, default=96, help="generated mixed jets to use (default: 96)")
    parser.add_argument("--seed", type=int, default=5, help="generator seed (default: 5)")
    parser.add_argument("--input", default=None, help="read jets from this file instead of generating")
    parser.add_argument("--k", type=int, default=8, help="neighbours per node (default: 8)")
    parser.add_argument("--max-nodes", type=int, nargs="+", default=[400, 768],
                        help="graph sizes to benchmark (default: 400 768)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions, best reported (default: 3)")
    parser.add_argument("--threads", type=int, default=2, help="threads for the multi-threaded C++ row (default: 2)")
    args = parser.parse_args()

    if args.input:
        jets = io.read_jets(args.input, stop=args.jets)
        source = args.input
    else:
        from gvae.data.generate import generate_jets
        jets = generate_jets("mixed", args.jets, args.seed, workers=1, progress=False)
        source = f"generated mixed, seed {args.seed}"
    images = jets.images
    n = len(images)
    rows, stats = [], {}
    for max_nodes in args.max_nodes:
        py = build_graphs(images, args.k, max_nodes)
        cpp = _core.build_graphs(images, args.k, max_nodes)
        identical = all(np.array_equal(py[key], cpp[key]) for key in KEYS)
        py_best, py_med = best_rate(lambda: build_graphs(images, args.k, max_nodes), n, args.repeats)
        cpp_best, cpp_med = best_rate(lambda: _core.build_graphs(images, args.k, max_nodes), n, args.repeats)
        mt_best, mt_med = best_rate(lambda: _core.build_graphs(images, args.k, max_nodes, threads=args.threads),
                                    n, args.repeats)
        truncated = py["n_hits"] > max_nodes
        stats[str(max_nodes)] = {
            "jets": n, "jets_truncated": int(truncated.sum()), "fraction_truncated": float(truncated.mean()),
            "dropped_energy_fraction_mean": float(py["dropped_energy_fraction"].mean()),
            "dropped_energy_fraction_mean_truncated":
                float(py["dropped_energy_fraction"][truncated].mean()) if truncated.any() else 0.0,
            "dropped_energy_fraction_max": float(py["dropped_energy_fraction"].max()),
            "nodes_before_truncation_mean": float(py["n_hits"].mean()),
            "nodes_before_truncation_max": int(py["n_hits"].max()),
        }
        rows.append({"max_nodes": max_nodes, "k": args.k, "identical": identical,
                     "python_graphs_per_s": py_best, "python_graphs_per_s_median": py_med,
                     "cpp_graphs_per_s": cpp_best, "cpp_graphs_per_s_median": cpp_med,
                     f"cpp_{args.threads}threads_graphs_per_s": mt_best,
                     "cpp_over_python": cpp_best / py_best})
        print(f"max_nodes={max_nodes}: python {py_best:.0f} graphs/s, C++ {cpp_best:.0f} graphs/s "
              f"({cpp_best / py_best:.1f}x), C++ {args.threads} threads {mt_best:.0f} graphs/s, identical={identical}")
        if not identical:
            raise SystemExit("C++ and Python graphs differ")

    result = {"benchmark": "graph building (image [3,125,125] -> padded kNN graph)", "source": source,
              "jets": n, "repeats": args.repeats, "machine": machine(), "results": rows, "truncation": stats}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "graph.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    lines = [f"# Graph building: Python vs C++ ({n} jets, {source})", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, numpy {m['numpy']}, "
             f"1-min load average {m['load_average_1min']:.1f} while measuring (shared machine). Best of "
             f"{args.repeats}; both builders produce identical arrays.", "",
             f"| max_nodes | k | Python graphs/s | C++ graphs/s | C++ / Python | C++ {args.threads} threads graphs/s | identical |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['max_nodes']} | {r['k']} | {r['python_graphs_per_s']:.0f} | {r['cpp_graphs_per_s']:.0f} "
                     f"| {r['cpp_over_python']:.1f}x | {r[f'cpp_{args.threads}threads_graphs_per_s']:.0f} "
                     f"| {r['identical']} |")
    lines += ["", "Truncation on this sample:", "",
              "| max_nodes | jets truncated | mean dropped E fraction (all / truncated) | max dropped E fraction "
              "| nodes per jet before truncation (mean / max) |", "|---|---|---|---|---|"]
    for max_nodes, s in stats.items():
        lines.append(f"| {max_nodes} | {s['jets_truncated']}/{s['jets']} ({100 * s['fraction_truncated']:.1f}%) "
                     f"| {s['dropped_energy_fraction_mean']:.2e} / {s['dropped_energy_fraction_mean_truncated']:.2e} "
                     f"| {s['dropped_energy_fraction_max']:.2e} | {s['nodes_before_truncation_mean']:.0f} / "
                     f"{s['nodes_before_truncation_max']} |")
    (RESULTS / "graph.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'graph.json'} and {RESULTS / 'graph.md'}")


if __name__ == "__main__":
    main()
