"""Generation benchmark: jets/s per core for ttbar and QCD with one worker and with every core,
side by side in one run, plus the hit statistics per channel (graph node counts) and the jet-mass
peaks of the generated sample.

Writes ``benchmarks/results/generate.json`` and ``generate.md``. Default: ~2 min on 2 cores
(``--jets 96``); ``--jets 1000`` gives tighter statistics.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time
from pathlib import Path

import numpy as np

from gvae import geometry
from gvae.data.detector import DetectorConfig
from gvae.data.generate import _EventSource, default_workers, generate_jets
from gvae.jets import JetBatch

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)

RESULTS = Path(__file__).resolve().parent / "results"
MAX_NODES = 400  # the demo config's graph size (DESIGN.md section 4)


def machine() -> dict:
    """The machine (benchmarks/_machine.py) and the generator's library versions."""
    return _machine.machine("pythia8mc", "fastjet")


def pythia_init_seconds(process: str, seed: int) -> float:
    """Time to initialise one Pythia instance (paid once per worker and process)."""
    start = time.perf_counter()
    _EventSource(seed, DetectorConfig()).pythia(process)
    return time.perf_counter() - start


def hit_statistics(batch: JetBatch) -> dict:
    """Per-channel hits (track/ECAL pixels, HCAL towers) and graph nodes (one per HCAL tower)."""
    counts = (batch.images > 0).sum(axis=(2, 3)).astype(np.int64)
    counts[:, geometry.HCAL] //= geometry.HCAL_TOWER_PIXELS ** 2
    nodes = counts.sum(axis=1)

    def summary(x: np.ndarray) -> dict:
        return {"mean": float(x.mean()), "p50": float(np.percentile(x, 50)), "p99": float(np.percentile(x, 99)),
                "max": int(x.max())}

    stats = {name: summary(counts[:, c]) for c, name in enumerate(geometry.CHANNELS)}
    stats["nodes"] = summary(nodes)
    stats["fraction_over_max_nodes"] = float(np.mean(nodes > MAX_NODES))
    stats["max_nodes"] = MAX_NODES
    return stats


def mass_statistics(batch: JetBatch) -> dict:
    """Median and histogram mode (10 GeV bins) of the jet mass."""
    hist, edges = np.histogram(batch.m0, bins=np.arange(0.0, 400.0, 10.0))
    return {"median": float(np.median(batch.m0)), "mode_bin_centre": float(edges[np.argmax(hist)] + 5.0),
            "fraction_140_200": float(np.mean((batch.m0 > 140) & (batch.m0 < 200)))}


def _cpu_seconds() -> float:
    """CPU seconds used by this process and its finished (joined) children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_run(process: str, n_jets: int, seed: int, workers: int) -> tuple[JetBatch, float, float]:
    """Generate; returns (jets, wall seconds, CPU seconds of this process and its workers). The CPU
    time gives jets per core-second even when other jobs share the cores."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    batch = generate_jets(process, n_jets, seed, workers=workers, progress=False)
    return batch, time.perf_counter() - start, _cpu_seconds() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jets", type=int, default=96, help="jets per worker and process (default 96)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker count of the parallel runs (default: every available core)")
    parser.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where generate.json/.md go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    workers = args.workers or default_workers()

    load_before = os.getloadavg()
    result: dict = {"machine": machine(), "jets_per_worker": args.jets, "workers": workers, "seed": args.seed,
                    "throughput": {}, "hits": {}, "mass": {}}
    samples = {}
    for process in ("ttbar", "qcd"):
        init_s = pythia_init_seconds(process, args.seed)
        one, t1, c1 = time_run(process, args.jets, args.seed, 1)
        n_all = args.jets * workers
        many, tw, cw = time_run(process, n_all, args.seed, workers)
        np.testing.assert_array_equal(one.images, many.images[:args.jets])  # determinism across worker counts
        samples[process] = many
        result["throughput"][process] = {
            "pythia_init_s": init_s,
            "one_worker": {"jets": args.jets, "seconds": t1, "cpu_seconds": c1, "jets_per_s": args.jets / t1,
                           "jets_per_s_per_core": args.jets / t1,
                           "jets_per_s_per_core_after_init": args.jets / max(t1 - init_s, 1e-9),
                           "jets_per_cpu_s": args.jets / c1},
            "all_workers": {"workers": workers, "jets": n_all, "seconds": tw, "cpu_seconds": cw,
                            "jets_per_s": n_all / tw, "jets_per_s_per_core": n_all / tw / workers,
                            "jets_per_cpu_s": n_all / cw},
            "parallel_efficiency": (n_all / tw / workers) / (args.jets / t1),
        }
        result["hits"][process] = hit_statistics(many)
        result["mass"][process] = mass_statistics(many)
    result["load_average"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    both = JetBatch.concatenate([samples["ttbar"], samples["qcd"]])
    result["hits"]["mixed"] = hit_statistics(both)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "generate.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / "generate.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Generation benchmark (`benchmarks/bench_generate.py`)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}, "
        f"pythia8mc {m['pythia8mc']}, fastjet {m['fastjet']}. Seed {r['seed']}, {r['jets_per_worker']} jets per worker. "
        f"1-minute load average {r['load_average']['before']:.1f} before, {r['load_average']['after']:.1f} after "
        "(wall-clock rates drop when other jobs share the cores; jets per CPU-second do not).",
        "",
        "| process | Pythia init (s) | 1 worker: jets/s | 1 worker: jets per CPU-s | "
        f"{r['workers']} workers: jets/s | {r['workers']} workers: jets/s per core | "
        f"{r['workers']} workers: jets per CPU-s | parallel efficiency (wall) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for process, t in r["throughput"].items():
        lines.append(f"| {process} | {t['pythia_init_s']:.2f} | {t['one_worker']['jets_per_s']:.1f} | "
                     f"{t['one_worker']['jets_per_cpu_s']:.1f} | {t['all_workers']['jets_per_s']:.1f} | "
                     f"{t['all_workers']['jets_per_s_per_core']:.1f} | {t['all_workers']['jets_per_cpu_s']:.1f} | "
                     f"{t['parallel_efficiency']:.2f} |")
    lines += ["", "Runs include process start-up and one Pythia initialisation per worker and process; "
              "longer runs (`--jets 1000`) amortise them."]
    lines += ["", "Hits per jet (track and ECAL: nonzero pixels; HCAL: nonzero towers; nodes: one per hit, "
              "one per HCAL tower):", "",
              "| sample | jets | track mean | ECAL mean | HCAL towers mean | nodes mean | nodes p99 | nodes max | "
              f"> {MAX_NODES} nodes |",
              "|---|---|---|---|---|---|---|---|---|"]
    counts = {"ttbar": r["throughput"]["ttbar"]["all_workers"]["jets"],
              "qcd": r["throughput"]["qcd"]["all_workers"]["jets"]}
    counts["mixed"] = counts["ttbar"] + counts["qcd"]
    for sample, h in r["hits"].items():
        lines.append(f"| {sample} | {counts[sample]} | {h['track']['mean']:.1f} | {h['ecal']['mean']:.1f} | "
                     f"{h['hcal']['mean']:.1f} | {h['nodes']['mean']:.1f} | {h['nodes']['p99']:.0f} | "
                     f"{h['nodes']['max']} | {100 * h['fraction_over_max_nodes']:.1f} % |")
    lines += ["", "Jet mass m0 (GeV):", "", "| process | median | mode (10 GeV bins) | fraction in 140-200 |",
              "|---|---|---|---|"]
    for process, s in r["mass"].items():
        lines.append(f"| {process} | {s['median']:.1f} | {s['mode_bin_centre']:.0f} | {s['fraction_140_200']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
