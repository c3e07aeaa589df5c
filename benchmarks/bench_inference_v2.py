"""libgvae on a contract v2 (latent-decoder) model: reconstruct and simulate, ms per jet, in one run.

    python benchmarks/bench_inference_v2.py --export demo_output/export --hits demo_output/heldout.gvh \
        [--batch-sizes 1,64] [--repeats 5] [--intra 1] [--md benchmarks/results/inference_v2.md]

For each format (TorchScript ``gvae.pt``, AOTInductor ``gvae.pt2``) and batch size, timed alternately
after a warm-up, median of ``--repeats``:

* ``produce``: ``Producer.produce`` on the held-out jets in one call (graphs, normalisation,
  batching by hit count (the default ``sort_by_size``), the ``reconstruct`` entry point, snapping
  to detector cells);
* ``run reconstruct``: ``Model.run("reconstruct")`` alone on the same batches (same jets, same
  order) prepared beforehand (the raw model call; ``produce / run - 1`` is the producer's overhead);
* ``produce input order`` / ``run reconstruct input order``: the same with ``sort_by_size=False``
  (batches in file order); ``sort gain`` = produce input order / produce;
* ``simulate``: ``Simulator.simulate`` on conditions (type, pT) drawn inside the trained range
  (with a ``simulate_counts`` entry point, the default ``sort_by_count``: the counts first, then
  batches ordered by them); ``simulate input order``: ``sort_by_count=False``;
* ``run simulate``: ``Model.run("simulate")`` alone on the same batches in input order
  (``simulate input order / run simulate - 1`` is the simulator's overhead; ``simulate sort gain``
  = simulate input order / simulate).

The calls go through the pybind11 bindings (``gvae._core``), which call the same C++ objects as a
framework does; the bindings add the numpy conversion of inputs and results. One intra-op thread.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load_average, machine  # noqa: E402

from gvae import native  # noqa: E402
from gvae.io import read_jets  # noqa: E402
from gvae.io._common import images_to_hits  # noqa: E402

PAPER_T4_MS_PER_JET = 0.13088 / 64 * 1e3  # the paper's T4 GPU: 0.13088 s per batch of 64


def _batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--export", type=Path, default=Path("demo_output/export"),
                   help="folder with gvae.pt and gvae.pt2 (contract v2; default demo_output/export from make demo)")
    p.add_argument("--hits", type=Path, default=Path("demo_output/heldout.gvh"),
                   help="held-out jets, .gvh or any gvae.io format (default demo_output/heldout.gvh)")
    p.add_argument("--before", type=Path, default=None,
                   help="a second export folder (e.g. the same checkpoint exported by older code) timed "
                        "alternately with --export in the same run: rows 'before' and 'after'")
    p.add_argument("--model", action="append", default=[], metavar="LABEL=DIR",
                   help="further export folders timed alternately with --export in the same run, one row "
                        "label each (repeatable; --export's rows are labelled 'default')")
    p.add_argument("--formats", default="torchscript,aoti",
                   help="comma-separated formats to time: torchscript (gvae.pt), aoti (gvae.pt2) (default both)")
    p.add_argument("--batch-sizes", default="1,64", help="comma-separated batch sizes (default 1,64)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per figure, alternated (default 5)")
    p.add_argument("--jets", type=int, default=0, help="time the first N held-out jets only (default 0: all)")
    p.add_argument("--intra", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--md", type=Path, default=Path(__file__).parent / "results" / "inference_v2.md",
                   help="write the table as markdown here (default benchmarks/results/inference_v2.md)")
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "inference_v2.json",
                   help="write the figures as JSON here (default benchmarks/results/inference_v2.json)")
    args = p.parse_args(argv)

    all_formats = {"torchscript": ("TorchScript", "gvae.pt"), "aoti": ("AOTInductor", "gvae.pt2")}
    if any(f not in all_formats for f in args.formats.split(",")):
        p.error(f"--formats takes a comma-separated subset of {sorted(all_formats)}, got '{args.formats}'")
    formats = [all_formats[f] for f in args.formats.split(",")]
    for path in [args.export / name for _, name in formats] + [args.hits]:
        if not path.exists():
            p.error(f"{path} does not exist: run `make demo` first or pass --export/--hits")
    native.configure_threads(args.intra, 1)
    jets = read_jets(str(args.hits))
    if args.jets:
        jets = jets.slice(0, min(args.jets, len(jets)))
    hits = images_to_hits(jets.images)
    n_jets = len(jets)
    channel, ieta, iphi = hits.channel.astype(np.int32), hits.ieta.astype(np.int32), hits.iphi.astype(np.int32)
    energy, counts = hits.energy.astype(np.float32), hits.counts.astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    by_size = np.argsort(counts, kind="stable")  # the order Producer.produce runs the jets in (sort_by_size)
    contract = json.loads((args.export / "gvae.pt.contract.json").read_text())
    types = contract["conditions"]["types"]
    rng = np.random.default_rng(0)
    cond_type = np.arange(n_jets, dtype=np.int32) % len(types)
    cond_pt = np.array([rng.uniform(types[t]["pt_min"], types[t]["pt_max"]) for t in cond_type])
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    info, load_before = machine(), load_average()
    rows = []
    exports = {"after": args.export, "before": args.before} if args.before else {"": args.export}
    if args.model:
        exports = {"default": args.export}
        for spec in args.model:
            label, _, folder = spec.partition("=")
            if not folder or any(not (Path(folder) / name).exists() for _, name in formats):
                p.error(f"--model needs LABEL=DIR with the --formats' artifacts in DIR, got '{spec}'")
            exports[label] = Path(folder)
    for fmt, name in formats:
        models = {label: native.Model.load(str(folder / name), "cpu") for label, folder in exports.items()}
        for batch in batch_sizes:
            if batch > contract["batch"]["max"]:
                continue
            calls = {}
            for label, model in models.items():
                producer = native.Producer(model, batch_size=batch)
                unsorted = native.Producer(model, batch_size=batch, sort_by_size=False)
                simulator = native.Simulator(model, batch_size=batch, seed=1)
                sim_unsorted = native.Simulator(model, batch_size=batch, seed=1, sort_by_count=False)
                prepared = {"size": [], "input": []}
                for key, order in (("size", by_size), ("input", np.arange(n_jets))):
                    for sl in _batches(n_jets, batch):
                        these = order[sl]
                        pick = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in these])
                        prep = producer.prepare(channel[pick], ieta[pick], iphi[pick], energy[pick], counts[these])
                        prepared[key].append([prep[k] for k in ("features", "neighbours", "mask", "noise", "count_noise")])
                gen = native.NoiseGenerator(3)
                sim_inputs = []
                for sl in _batches(n_jets, batch):
                    m = sl.stop - sl.start
                    sim_inputs.append([np.stack([cond_type[sl].astype(np.float64), cond_pt[sl]], axis=1),
                                       gen.normal([m, contract["latent"]["clusters"] * contract["latent"]["dim"]]),
                                       gen.normal([m, 3])])
                calls[(label, "produce")] = (lambda pr=producer: pr.produce(channel, ieta, iphi, energy, counts))
                calls[(label, "run reconstruct")] = (lambda md=model, xs=prepared["size"]: [md.run("reconstruct", x) for x in xs])
                calls[(label, "produce input order")] = (lambda pr=unsorted: pr.produce(channel, ieta, iphi, energy, counts))
                calls[(label, "run reconstruct input order")] = (
                    lambda md=model, xs=prepared["input"]: [md.run("reconstruct", x) for x in xs])
                calls[(label, "simulate")] = (lambda sm=simulator: sm.simulate(cond_type, cond_pt))
                calls[(label, "simulate input order")] = (lambda sm=sim_unsorted: sm.simulate(cond_type, cond_pt))
                calls[(label, "run simulate")] = (lambda md=model, xs=sim_inputs: [md.run("simulate", x) for x in xs])
            for fn in calls.values():  # warm-up (AOTInductor runners, allocator)
                fn()
            times: dict = {k: [] for k in calls}
            for _ in range(args.repeats):
                for k, fn in calls.items():
                    times[k].append(_median_time(fn, 1))
            for label in models:
                ms = {k[1]: 1e3 * statistics.median(v) / n_jets for k, v in times.items() if k[0] == label}
                rows.append({"model": label, "format": fmt, "batch": batch, "jets": n_jets,
                             **{f"{k} ms/jet": v for k, v in ms.items()},
                             "producer overhead": ms["produce"] / ms["run reconstruct"] - 1,
                             "producer overhead input order": ms["produce input order"] / ms["run reconstruct input order"] - 1,
                             "sort gain": ms["produce input order"] / ms["produce"],
                             "simulator overhead input order": ms["simulate input order"] / ms["run simulate"] - 1,
                             "simulate sort gain": ms["simulate input order"] / ms["simulate"]})
                print(json.dumps(rows[-1]), flush=True)
    load_after = load_average()
    if args.md:
        lines = [f"# libgvae on a contract v2 model: reconstruct and simulate (`benchmarks/bench_inference_v2.py`)", "",
                 f"Command: `python benchmarks/bench_inference_v2.py --export {args.export} --hits {args.hits} "
                 f"--formats {args.formats} --batch-sizes {args.batch_sizes} --repeats {args.repeats} --intra {args.intra} --jets {args.jets}"
                 + (f" --before {args.before}" if args.before else "")
                 + "".join(f" --model {m}" for m in args.model) + "`", "",
                 f"Machine: {json.dumps(info)}; 1-minute load average {load_before} before, {load_after} after. "
                 f"{n_jets} jets, {args.intra} intra-op thread(s), through the pybind11 bindings (same C++ objects). "
                 f"Medians of {args.repeats} alternated repeats. The paper's T4 GPU: {PAPER_T4_MS_PER_JET:.2f} ms per jet.",
                 "Reconstruct columns: jets batched by hit count (Producer's default `sort_by_size`); "
                 "input order: `sort_by_size=False`, batches in file order.",
                 "", "| model | format | batch | produce ms/jet | run reconstruct ms/jet | producer overhead | "
                 "produce input order ms/jet | run input order ms/jet | overhead input order | sort gain | "
                 "simulate ms/jet | simulate input order ms/jet | run simulate ms/jet | simulator overhead input order | "
                 "simulate sort gain | produce vs paper T4 |",
                 "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['model']} | {r['format']} | {r['batch']} | {r['produce ms/jet']:.2f} | {r['run reconstruct ms/jet']:.2f} | "
                         f"{100 * r['producer overhead']:+.1f} % | {r['produce input order ms/jet']:.2f} | "
                         f"{r['run reconstruct input order ms/jet']:.2f} | {100 * r['producer overhead input order']:+.1f} % | "
                         f"{r['sort gain']:.2f}x | {r['simulate ms/jet']:.2f} | {r['simulate input order ms/jet']:.2f} | "
                         f"{r['run simulate ms/jet']:.2f} | {100 * r['simulator overhead input order']:+.1f} % | "
                         f"{r['simulate sort gain']:.2f}x | "
                         f"{r['produce ms/jet'] / PAPER_T4_MS_PER_JET:.1f}x |")
        args.md.write_text("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "load_average": [load_before, load_after], "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
