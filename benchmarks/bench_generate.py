"""Generation benchmark: jets/s for ttbar and QCD without and with pile-up (one worker, same seed,
side by side), with pile-up on every core, the cost of the minimum-bias library, the hit
statistics per channel (graph node counts with and without pile-up) and the jet-mass peaks.

Writes ``benchmarks/results/generate.json`` and ``generate.md``. Default: a few minutes on 2 cores
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
from gvae.data.pileup import NO_PILEUP, PileupConfig, PileupSettings, generate_library
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
    _EventSource(seed, DetectorConfig(), pileup=NO_PILEUP).pythia(process)
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
    stats["fraction_over_768_nodes"] = float(np.mean(nodes > 768))
    # calorimeter sum over the generator-level jet energy (non-compensation lowers it, pile-up raises it)
    calo = batch.images[:, geometry.ECAL:].sum(axis=(1, 2, 3), dtype=np.float64)
    stats["calo_over_jet_energy_median"] = float(np.median(calo / (batch.pt * np.cosh(batch.eta))))
    towers = batch.images[:, geometry.HCAL].reshape(len(batch), geometry.N_TOWERS, geometry.HCAL_TOWER_PIXELS,
                                                   geometry.N_TOWERS, geometry.HCAL_TOWER_PIXELS)[:, :, 0, :, 0]
    centre = geometry.N_TOWERS // 2
    stats["hottest_tower_at_centre"] = float(np.mean(
        [np.unravel_index(np.argmax(t), t.shape) == (centre, centre) for t in towers]))
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


def time_run(process: str, n_jets: int, seed: int, workers: int,
             pileup: PileupConfig = PileupConfig()) -> tuple[JetBatch, float, float]:
    """Generate; returns (jets, wall seconds, CPU seconds of this process and its workers). The CPU
    time gives jets per core-second even when other jobs share the cores."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    batch = generate_jets(process, n_jets, seed, workers=workers, progress=False, pileup=pileup)
    return batch, time.perf_counter() - start, _cpu_seconds() - cpu


def library_cost(n_events: int) -> dict:
    """Seconds per minimum-bias event (Pythia 8, SoftQCD:nonDiffractive, particle extraction
    included): what generating pile-up per run would cost instead of the cached library."""
    start = time.perf_counter()
    generate_library(PileupSettings(n_events=1, seed=99))  # Pythia initialisation + 1 event
    init = time.perf_counter() - start
    start, cpu = time.perf_counter(), _cpu_seconds()
    library = generate_library(PileupSettings(n_events=n_events + 1, seed=99))
    wall, used = time.perf_counter() - start - init, _cpu_seconds() - cpu
    return {"events": n_events, "seconds": wall, "cpu_seconds": used, "ms_per_event": 1e3 * wall / n_events,
            "particles_per_event": float(library.particles_per_event().mean()),
            "default_library_events": PileupSettings().n_events}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jets", type=int, default=96, help="jets per worker and process (default 96)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker count of the parallel runs (default: every available core)")
    parser.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where generate.json/.md go")
    parser.add_argument("--library-events", type=int, default=200,
                        help="minimum-bias events generated to time the library (default 200)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    workers = args.workers or default_workers()

    load_before = os.getloadavg()
    mu = PileupConfig().mu
    result: dict = {"machine": machine(), "command": "nice -n 10 .venv/bin/python benchmarks/bench_generate.py "
                    + " ".join(argv if argv is not None else __import__("sys").argv[1:]), "jets_per_worker": args.jets, "workers": workers, "seed": args.seed,
                    "pileup_mu": mu, "throughput": {}, "hits": {}, "hits_no_pileup": {}, "mass": {}}
    PileupConfig().load()  # the cached library (generated here on a fresh machine, not timed below)
    result["library"] = library_cost(args.library_events)
    samples, clean = {}, {}
    for process in ("ttbar", "qcd"):
        init_s = pythia_init_seconds(process, args.seed)
        # side by side: the same seed (the same hard events) without and with pile-up, one worker
        nopu, t0, c0 = time_run(process, args.jets, args.seed, 1, NO_PILEUP)
        one, t1, c1 = time_run(process, args.jets, args.seed, 1)
        n_all = args.jets * workers
        many, tw, cw = time_run(process, n_all, args.seed, workers)
        np.testing.assert_array_equal(one.images, many.images[:args.jets])  # determinism across worker counts
        np.testing.assert_array_equal(one.m0, nopu.m0)  # pile-up does not change the generated jets
        samples[process], clean[process] = many, nopu
        result["throughput"][process] = {
            "pythia_init_s": init_s,
            "no_pileup": {"jets": args.jets, "seconds": t0, "cpu_seconds": c0, "jets_per_s": args.jets / t0,
                          "jets_per_cpu_s": args.jets / c0},
            "one_worker": {"jets": args.jets, "seconds": t1, "cpu_seconds": c1, "jets_per_s": args.jets / t1,
                           "jets_per_s_per_core": args.jets / t1,
                           "jets_per_s_per_core_after_init": args.jets / max(t1 - init_s, 1e-9),
                           "jets_per_cpu_s": args.jets / c1},
            "all_workers": {"workers": workers, "jets": n_all, "seconds": tw, "cpu_seconds": cw,
                            "jets_per_s": n_all / tw, "jets_per_s_per_core": n_all / tw / workers,
                            "jets_per_cpu_s": n_all / cw},
            "pileup_cost_ratio_cpu": c1 / c0,
            "parallel_efficiency": (n_all / tw / workers) / (args.jets / t1),
        }
        result["hits"][process] = hit_statistics(many)
        result["hits_no_pileup"][process] = hit_statistics(nopu)
        result["mass"][process] = mass_statistics(many)
    result["load_average"] = {"before": load_before[0], "after": os.getloadavg()[0]}
    result["hits"]["mixed"] = hit_statistics(JetBatch.concatenate([samples["ttbar"], samples["qcd"]]))
    result["hits_no_pileup"]["mixed"] = hit_statistics(JetBatch.concatenate([clean["ttbar"], clean["qcd"]]))

    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "generate.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / "generate.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    m = r["machine"]
    mu = r["pileup_mu"]
    lib = r["library"]
    lines = [
        "# Generation benchmark (`benchmarks/bench_generate.py`)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}, "
        f"pythia8mc {m['pythia8mc']}, fastjet {m['fastjet']}. Seed {r['seed']}, {r['jets_per_worker']} jets per worker "
        f"and run. 1-minute load average {r['load_average']['before']:.1f} before, {r['load_average']['after']:.1f} after "
        "(wall-clock rates drop when other jobs share the cores; jets per CPU-second do not). "
        f"Command: `{r.get('command', 'benchmarks/bench_generate.py')}`.",
        "",
        f"Pile-up: Poisson mean {mu:g} minimum-bias events per hard event, overlaid from the cached library "
        f"({lib['default_library_events']} events). The runs without and with pile-up use the same seed, hence the "
        "same hard events (checked), one worker each, one after the other:",
        "",
        "| process | Pythia init (s) | no pile-up: jets/s | no pile-up: jets per CPU-s | "
        f"pile-up {mu:g}: jets/s | pile-up {mu:g}: jets per CPU-s | CPU cost of pile-up | "
        f"{r['workers']} workers, pile-up: jets/s | {r['workers']} workers: jets per CPU-s | parallel efficiency (wall) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for process, t in r["throughput"].items():
        lines.append(f"| {process} | {t['pythia_init_s']:.2f} | {t['no_pileup']['jets_per_s']:.1f} | "
                     f"{t['no_pileup']['jets_per_cpu_s']:.1f} | {t['one_worker']['jets_per_s']:.1f} | "
                     f"{t['one_worker']['jets_per_cpu_s']:.1f} | x{t['pileup_cost_ratio_cpu']:.2f} | "
                     f"{t['all_workers']['jets_per_s']:.1f} | {t['all_workers']['jets_per_cpu_s']:.1f} | "
                     f"{t['parallel_efficiency']:.2f} |")
    lines += ["", "Runs include process start-up and one Pythia initialisation per worker and process; "
              "longer runs (`--jets 1000`) amortise them.", "",
              f"Minimum-bias library: {lib['events']} events generated in {lib['seconds']:.1f} s "
              f"({lib['ms_per_event']:.1f} ms per event, {lib['particles_per_event']:.0f} particles with |eta| < 3 "
              f"per event). Generating pile-up per run instead would cost ~{mu * lib['ms_per_event']:.0f} ms per "
              f"event at mu = {mu:g}; the library ({lib['default_library_events']} events, "
              f"~{lib['default_library_events'] * lib['ms_per_event'] / 1e3:.0f} s once, then cached under "
              "`~/.cache/gvae/pileup`) removes that cost."]
    counts = {"ttbar": r["throughput"]["ttbar"]["all_workers"]["jets"],
              "qcd": r["throughput"]["qcd"]["all_workers"]["jets"]}
    counts["mixed"] = counts["ttbar"] + counts["qcd"]
    clean_counts = {p: r["throughput"][p]["no_pileup"]["jets"] for p in ("ttbar", "qcd")}
    clean_counts["mixed"] = clean_counts["ttbar"] + clean_counts["qcd"]
    lines += ["", "Hits per jet (track and ECAL: nonzero pixels; HCAL: nonzero towers) = graph nodes the builder "
              "must hold (one per hit, one per HCAL tower):", "",
              "| pile-up | sample | jets | track mean | ECAL mean | HCAL towers mean | nodes mean | nodes p99 | "
              f"nodes max | > {MAX_NODES} nodes | > 768 nodes |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, label, n in (("hits_no_pileup", "0", clean_counts), ("hits", f"{mu:g}", counts)):
        for sample, h in r[key].items():
            lines.append(f"| {label} | {sample} | {n[sample]} | {h['track']['mean']:.1f} | {h['ecal']['mean']:.1f} | "
                         f"{h['hcal']['mean']:.1f} | {h['nodes']['mean']:.1f} | {h['nodes']['p99']:.0f} | "
                         f"{h['nodes']['max']} | {100 * h['fraction_over_max_nodes']:.1f} % | "
                         f"{100 * h['fraction_over_768_nodes']:.1f} % |")
    worst = max(h["nodes"]["max"] for h in r["hits"].values())
    lines += ["", f"With pile-up {mu:g} the largest jet has {worst} nodes: a graph config that holds every jet "
              f"(no truncation) needs `max_nodes >= {worst}` on this sample; the tail grows with the sample size, "
              "so leave a margin (e.g. 1024)."]
    lines += ["", "Calorimeter sum (ECAL + HCAL) over the generator-level jet energy (median) and the fraction of "
              "jets whose hottest HCAL tower of the window is the centre tower:", "",
              "| pile-up | sample | calo / jet energy | hottest tower at centre |", "|---|---|---|---|"]
    for key, label in (("hits_no_pileup", "0"), ("hits", f"{mu:g}")):
        for sample, h in r[key].items():
            if "calo_over_jet_energy_median" in h:
                lines.append(f"| {label} | {sample} | {h['calo_over_jet_energy_median']:.3f} | "
                             f"{h['hottest_tower_at_centre']:.2f} |")
    lines += ["", "Jet mass m0 (GeV, generator-level jet: pile-up does not enter it):", "",
              "| process | median | mode (10 GeV bins) | fraction in 140-200 |", "|---|---|---|---|"]
    for process, s in r["mass"].items():
        lines.append(f"| {process} | {s['median']:.1f} | {s['mode_bin_centre']:.0f} | {s['fraction_140_200']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
