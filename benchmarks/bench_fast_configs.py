"""Cost of latent-decoder configurations side by side: FLOPs per jet per module and eager ms per jet.

For each ``LABEL=CHECKPOINT`` (a latent-decoder training checkpoint), loads the module the exports
trace (:class:`gvae.export.entry.LatentEntryPoints`) and, at each batch size, one intra-op thread:

* FLOPs per jet of ``reconstruct`` and ``simulate`` per submodule (``torch.utils.flop_counter``:
  matmul-type operators only: linear, bmm, einsum, attention; gathers, norms and activations are
  memory traffic and not counted), on the first held-out graphs of the test split / the verify
  conditions, zero noises (deterministic decoding, the counts the model predicts);
* eager ms per jet of both entry points (``torch.inference_mode``), every checkpoint timed
  alternately in the same repeat loop (the ratios between rows are what a loaded machine keeps);
* the compute floor ``FLOPs / peak`` at the single-core fp32 peak measured by
  ``benchmarks/bench_knn.py`` (``--peak-gflops``, default 11.5: sgemm 1024^3, one thread,
  ``benchmarks/results/knn.md``).

    nice -n 10 .venv/bin/python benchmarks/bench_fast_configs.py --data demo_output/graphs \
        --model default=demo_output/run/best.pt --model blocks0=runs/b0/best.pt --batch-sizes 1,64
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load_average, machine  # noqa: E402

from gvae.export.entry import entry_module  # noqa: E402
from gvae.export.source import load_source  # noqa: E402
from gvae.export.verify import held_out_inputs, simulate_conditions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

#: module-path prefixes of LatentEntryPoints -> the phase they are reported under
PHASES = (("adjacency", "encoder: kNN adjacency"), ("encoder.nodes", "encoder: node GraphSAGE"),
          ("encoder.stages.0", "encoder: pool 1 + SAGE"), ("encoder.stages.1", "encoder: pool 2 + SAGE"),
          ("encoder", "encoder: other"), ("latent", "latent heads"), ("summary", "latent_summary"),
          ("pca_encoder", "encoder: PCA coefficients"), ("decoder.pca", "decoder: PCA reconstruction"),
          ("decoder.glob", "decoder: global code"), ("decoder.count_head", "decoder: count head"),
          ("decoder.query", "decoder: slot queries (MLP)"), ("decoder.token", "decoder: latent tokens"),
          ("decoder.blocks", "decoder: cross-attention blocks"), ("decoder.norm_out", "decoder: output head"),
          ("decoder.head", "decoder: output head"))


def _phase(module_path: str) -> str:
    """``LatentEntryPoints.encoder.nodes.0`` -> its phase name (the rest: ``decoder: rest``)."""
    for root in ("_Simulate.inner.", "LatentEntryPoints."):
        if module_path.startswith(root):
            path = module_path[len(root):]
            break
    else:
        return "decoder: rest (readout einsum, prior, layout)"
    for prefix, name in PHASES:
        if path == prefix or path.startswith(prefix + "."):
            return name
    return "decoder: rest (readout einsum, prior, layout)"


def _sdpa_cpu_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of CPU flash attention ``softmax(q k^T) v`` (q ``[B, h, S, d]``, k/v ``[B, h, C, d]``):
    two batched matmuls, ``2 * 2 * B h S C d`` (torch's counter has no formula for the CPU kernel)."""
    b, h, s, d = query_shape
    c = key_shape[2]
    return 4 * b * h * s * c * d


def flops_per_module(fn, args) -> dict[str, float]:
    """FLOPs of one call of ``fn(*args)`` per phase (leaf attribution: each operator counted once,
    in the innermost module that ran it)."""
    counter = FlopCounterMode(display=False, depth=None, custom_mapping={
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flop})
    with torch.inference_mode(), counter:
        fn(*args)
    counts = counter.get_flop_counts()
    total = sum(counts["Global"].values())
    # the counter reports each module with everything below it: a module's own FLOPs are its
    # inclusive count less that of its nearest recorded descendants (containers such as a
    # ModuleList are never called, so a child may sit two or more levels below)
    inclusive = {path: float(sum(v.values())) for path, v in counts.items() if path != "Global"}
    paths = list(inclusive)

    def below(q: str, path: str) -> bool:
        return q.startswith(path + ".")

    own = {}
    for path in paths:
        desc = [q for q in paths if below(q, path)]
        nearest = [q for q in desc if not any(below(q, r) for r in desc)]
        own[path] = inclusive[path] - sum(inclusive[q] for q in nearest)
    phases: dict[str, float] = defaultdict(float)
    attributed = 0.0
    for path in paths:
        value = own[path]
        if value and path not in ("LatentEntryPoints", "_Simulate", "_Simulate.inner"):
            phases[_phase(path)] += value
            attributed += value
    phases["decoder: rest (readout einsum, prior, layout)"] += total - attributed
    phases["total"] = total
    return dict(phases)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, metavar="LABEL=CHECKPOINT",
                   help="a latent-decoder checkpoint and its row label (repeatable)")
    p.add_argument("--data", type=Path, default=Path("demo_output/graphs"),
                   help="graph directory whose test split feeds reconstruct (default demo_output/graphs)")
    p.add_argument("--batch-sizes", default="1,64", help="comma-separated batch sizes (default 1,64)")
    p.add_argument("--repeats", type=int, default=7, help="timed calls per figure, alternated (default 7)")
    p.add_argument("--peak-gflops", type=float, default=11.5,
                   help="single-core fp32 peak for the compute floor (default 11.5, benchmarks/results/knn.md)")
    p.add_argument("--out", type=Path, default=RESULTS / "fast_configs_eager.json",
                   help="JSON results (default benchmarks/results/fast_configs_eager.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    models = {}
    for spec in args.model:
        label, _, path = spec.partition("=")
        if not path:
            p.error(f"--model needs LABEL=CHECKPOINT, got '{spec}'")
        source = load_source(Path(path))
        models[label] = (source, source.model.eval())
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    load_before = load_average()
    out: dict = {"machine": machine(), "command": "python benchmarks/bench_fast_configs.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "peak_gflops": args.peak_gflops, "runs": []}
    for b in sizes:
        calls = {}
        for label, (source, entry) in models.items():
            features, neighbours, mask = held_out_inputs(args.data, source, b, cpu)
            rec = (features, neighbours, mask, torch.zeros(b, source.clusters, source.latent_dim), torch.zeros(b, 3))
            sim = (simulate_conditions(source, b), torch.zeros(b, source.clusters * source.latent_dim),
                   torch.zeros(b, 3))
            # through the modules' __call__ (as the exports trace them), so the FLOP counter names the submodules
            calls[(label, "reconstruct")] = (entry_module(entry, "reconstruct"), rec)
            calls[(label, "simulate")] = (entry_module(entry, "simulate"), sim)
        info = {}
        for key, (fn, fargs) in calls.items():
            with torch.inference_mode():
                res = fn(*fargs)
                fn(*fargs)                                            # warm-up
            info[key] = {"flops": flops_per_module(fn, fargs), "slots_per_jet": float(res[2].sum()) / b}
        times: dict = defaultdict(list)
        for _ in range(args.repeats):
            for key, (fn, fargs) in calls.items():
                t0 = time.perf_counter()
                with torch.inference_mode():
                    fn(*fargs)
                times[key].append(time.perf_counter() - t0)
        for (label, entry_name), v in info.items():
            ms = 1e3 * statistics.median(times[(label, entry_name)]) / b
            flops = {k: f / b for k, f in v["flops"].items()}
            mcfg = models[label][0].config["model"]
            row = {"model": label, "entry": entry_name, "batch": b, "eager_ms_per_jet": ms,
                   "config": {k: mcfg.get(k) for k in ("decoder_hidden", "decoder_heads", "decoder_blocks",
                                                       "latent_summary_hits", "pca_init")},
                   "mflop_per_jet": flops["total"] / 1e6, "floor_ms_per_jet": flops["total"] / args.peak_gflops / 1e6,
                   "slots_per_jet": v["slots_per_jet"], "mflop_per_jet_by_phase": {
                       k: f / 1e6 for k, f in sorted(flops.items(), key=lambda kv: -kv[1]) if k != "total" and f}}
            out["runs"].append(row)
            print(json.dumps(row), flush=True)
    out["load_average"] = [load_before, load_average()]
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
