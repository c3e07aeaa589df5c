"""Benchmark libgvae inference: C++ ``Producer::produce`` vs the raw ``Model::forward``.

Same jets, same process, measured alternately (``benchmarks/bench_inference_cpp/main.cpp``): jets/s
and latency per jet for batch sizes (default 1 and 64; ``--batch-sizes 1 64 512 --jets 512`` for
the full table), TorchScript vs AOTInductor, on CPU (and CUDA with ``--device cuda``). The
producer's overhead = produce / forward - 1 (graph building, normalisation and inverse; the
forward includes moving inputs to the device and the output back). The batch-64 time is compared
with the paper's 0.13088 s per batch of 64 on an NVIDIA T4.

Inputs: generated jets (``gvae.data.generate``, Pythia 8 + detector, seeded) written to a ``.gvh`` hits
file, and a contract v1 model: the committed reference model ``export/reference/gvae_reference.{pt,pt2}``
when it is one (it is contract v2 since issue 16), else a seeded randomly initialised paper-decoder
GVAE of the default architecture (timings do not depend on training) exported once.
Both are cached under ``--cache``. The C++ executable is built against the installed gvae
package (``find_package(gvae)``, like any external user) unless ``--bench-exe`` is given.

Writes ``benchmarks/results/inference.json`` (one entry per device kind, others kept) and
``inference.md``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
PAPER_S_PER_BATCH64 = 0.13088  # the paper's GVAE inference time per batch of 64 jets on a T4
SUFFIX = {"torchscript": ".pt", "aoti": ".pt2"}
log = logging.getLogger("bench_inference")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--jets", type=int, default=128, help="generated jets to run (batch 1 uses at most --max-jets-batch1)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64], help="producer batch sizes")
    p.add_argument("--max-jets-batch1", type=int, default=16, help="jets timed at batch size 1")
    p.add_argument("--formats", nargs="+", default=["torchscript", "aoti"], choices=list(SUFFIX),
                   help="model formats to time")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device to run on")
    p.add_argument("--repeats", type=int, default=2, help="timed repetitions (median) after one warm-up")
    p.add_argument("--intra", type=int, default=1,
                   help="LibTorch intra-op threads (1 = the multi-threaded-framework setting)")
    p.add_argument("--seed", type=int, default=4242, help="seed of the generated jets and of the random model")
    p.add_argument("--model-dir", type=Path, default=None,
                   help="directory with gvae.pt / gvae.pt2 (default: the committed CPU reference model "
                        "export/reference/gvae_reference.{pt,pt2}, else a random default-architecture model "
                        "exported into --cache)")
    p.add_argument("--hits", type=Path, default=None, help="existing .gvh file to use instead of generating jets")
    p.add_argument("--cache", type=Path, default=ROOT / "build" / "bench-inference",
                   help="cache for generated jets, exported models and the C++ build")
    p.add_argument("--bench-exe", type=Path, default=None, help="prebuilt bench_inference executable")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                   help="directory for inference.json / inference.md")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p.parse_args(argv)


def machine(device: str) -> dict[str, Any]:
    """The machine (benchmarks/_machine.py), with the GPU for CUDA runs."""
    return _machine.machine(device=device)


def jets_file(args: argparse.Namespace) -> Path:
    """The .gvh file of ``--jets`` generated jets (cached)."""
    if args.hits is not None:
        return args.hits
    from gvae import io
    from gvae.data.generate import generate_jets

    cached = sorted((int(p.stem.split("-")[2]), p) for p in args.cache.glob(f"jets-mixed-*-{args.seed}.gvh"))
    bigger = [p for n, p in cached if n >= args.jets]
    if bigger:  # the first jets of a longer run of the same seed; the C++ side reads --jets of them
        return bigger[0]
    path = args.cache / f"jets-mixed-{args.jets}-{args.seed}.gvh"
    if not path.exists():
        args.cache.mkdir(parents=True, exist_ok=True)
        log.info("generating %d jets (seed %d) -> %s", args.jets, args.seed, path)
        batch = generate_jets("mixed", args.jets, args.seed, progress=True)
        tmp = path.with_suffix(".tmp.gvh")
        io.write_jets(tmp, batch)
        tmp.replace(path)
    return path


def models(args: argparse.Namespace) -> dict[str, Path]:
    """format -> model path for ``args.device``."""
    if args.model_dir is not None:
        return {f: args.model_dir / f"gvae{SUFFIX[f]}" for f in args.formats}
    from gvae.export import contract as gc

    ref = ROOT / "export" / "reference"
    committed = {f: ref / f"gvae_reference{SUFFIX[f]}" for f in args.formats}
    # This benchmark times the contract v1 forward; the committed reference is contract v2 since
    # issue 16 (benchmarks/bench_inference_v2.py and bench_inference_cpp time its entry points).
    if args.device == "cpu" and all(p.exists() and gc.read_contract(gc.sidecar_path(p))["schema_version"] == 1
                                    for p in committed.values()):
        return committed
    from gvae.export import ExportSource, export
    from gvae.model import GVAE, InferenceModel, ModelConfig

    out = args.cache / f"model-default-{args.seed}-{args.device}-torch{torch.__version__}"
    paths = {f: out / f"gvae{SUFFIX[f]}" for f in args.formats}
    missing = [f for f, p in paths.items() if not p.exists()]
    if missing:
        torch.manual_seed(args.seed)
        cfg = ModelConfig(decoder="paper")  # contract v1: the forward this benchmark times
        model = GVAE(cfg).eval()
        source = ExportSource(
            model=InferenceModel(model).eval(), state_dict=model.state_dict(),
            config={"model": cfg.to_dict(), "note": "random weights for benchmarking"},
            normalisation={"x": {"mean": 0.0, "std": 0.25}, "y": {"mean": 0.0, "std": 0.25},
                           "log_energy": {"mean": -1.0, "std": 1.5}},
            k=cfg.k, max_nodes=cfg.max_nodes, clusters=cfg.latent_clusters, latent_dim=cfg.latent_dim,
            batch_size=64)
        log.info("exporting a random default-architecture model (%s, %s) -> %s", missing, args.device, out)
        export(source, out, formats=missing, device=args.device, name="gvae",
               max_batch=max(1024, max(args.batch_sizes)))
    return paths


def bench_exe(args: argparse.Namespace) -> Path:
    """Build benchmarks/bench_inference_cpp against the installed gvae package (find_package)."""
    if args.bench_exe is not None:
        return args.bench_exe
    import gvae.native

    build = args.cache / "cpp"
    subprocess.run(["cmake", "-S", str(ROOT / "benchmarks" / "bench_inference_cpp"), "-B", str(build), "-G", "Ninja",
                    f"-DCMAKE_PREFIX_PATH={gvae.native.cmake_prefix_path()}", f"-DPython_EXECUTABLE={sys.executable}"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build)], check=True, stdout=subprocess.DEVNULL)
    return build / "bench_inference"


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the C++ benchmark; one row per (format, batch size)."""
    hits, paths, exe = jets_file(args), models(args), bench_exe(args)
    cmd = [str(exe), "--hits", str(hits), "--device", args.device, "--repeats", str(args.repeats),
           "--batch-sizes", ",".join(map(str, args.batch_sizes)), "--max-jets-batch1", str(args.max_jets_batch1),
           "--intra", str(args.intra), "--jets", str(args.jets)]
    for f in args.formats:
        cmd += ["--model", str(paths[f])]
    log.info("running %s", " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    log.info("benchmark took %.1f s", time.perf_counter() - t0)
    for r in rows:
        r["model"] = os.path.relpath(r["model"], ROOT)
        if r["batch_size"] == 64:
            r["paper_t4_s_per_batch64"] = PAPER_S_PER_BATCH64
            r["speedup_vs_paper"] = PAPER_S_PER_BATCH64 / r["produce_s_per_batch"]
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The results as a short markdown document (one table per device kind)."""
    lines = ["# libgvae inference benchmark", "",
             "C++ `Producer::produce` (graphs + normalisation + batching + model + inverse) vs the raw",
             "`Model::forward` (inputs to device, output back to host) on the same generated jets in the",
             "same run, timed alternately. Overhead = produce / forward - 1 (of the medians, and of the minima,",
             "which resist a busy machine better); prepare = the producer's own work before the model (graph",
             "building + normalisation), also as a fraction of the forward time. Paper: 0.13088 s",
             "per batch of 64 on an NVIDIA T4 (speed-up = paper / produce time per batch of 64).", ""]
    for kind, entry in sorted(results.items()):
        m = entry["machine"]
        where = m.get("gpu", m["cpu"])
        lines += [f"## {kind}: {where}", "",
                  f"CPU {m['cpu']} ({m['cores']} cores), torch {m['torch']}"
                  + (f", CUDA {m['cuda']}" if "cuda" in m else "")
                  + (f", load average {m['load_average_1min']} at the end" if "load_average_1min" in m else "")
                  + f"; intra-op threads {entry['intra']};"
                  f" model {entry['model']}; {entry['date']}.", "",
                  "| format | batch | jets | forward jets/s | produce jets/s | forward ms/jet | produce ms/jet "
                  "| prepare ms/jet | produce s/batch | overhead (median) | overhead (min) | prepare / forward "
                  "| vs paper (b64) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in entry["rows"]:
            paper = f"{r['speedup_vs_paper']:.1f}x" if "speedup_vs_paper" in r else ""
            lines.append(f"| {r['format']} | {r['batch_size']} | {r['jets']} | {r['forward_jets_per_s']:.1f} "
                         f"| {r['produce_jets_per_s']:.1f} | {r['forward_ms_per_jet']:.2f} | "
                         f"{r['produce_ms_per_jet']:.2f} | {r['prepare_ms_per_jet']:.3f} | {r['produce_s_per_batch']:.4f} | "
                         f"{100 * r['overhead']:+.1f}% | {100 * r['overhead_min']:+.1f}% | {100 * r['prepare_fraction']:.1f}% "
                         f"| {paper} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.device == "cuda" and not torch.cuda.is_available():
        log.error("--device cuda: torch.cuda.is_available() is false")
        return 1
    rows = run(args)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / "inference.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    model = sorted({str(Path(r["model"]).parent) for r in rows})
    results[args.device] = {"machine": machine(args.device), "intra": args.intra, "repeats": args.repeats,
                            "model": ", ".join(model), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                            "rows": rows}
    path.write_text(json.dumps(results, indent=2) + "\n")
    (args.results / "inference.md").write_text(markdown(results))
    print(markdown({args.device: results[args.device]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
