"""Dense vs kNN-list formulation of the encoder (``model.message_passing``), side by side.

Measured in one run on one intra-op thread (the machine is shared: ratios of alternated
measurements, minimum of the repeats, load average recorded):

* per operation, forward and forward+backward, batch ``--batch`` (default 64): node-level
  message passing ``A X`` (dense batched matmul on ``[B, N, N]`` vs gather + scatter-add on the
  ``[B, N, k]`` list) at the input and hidden widths, and the first MinCut pooling
  ``S^T A S`` with C = 100 clusters, at N = 200/400/800/1600;
* the encoder (+ latent heads) and the whole model (paper decoder) forward per jet for both
  formulations at each N with fixed clusters ``[100, 50]``, and the growth from N to 2N;
* a roofline estimate: FLOPs per jet (``torch.utils.flop_counter``: matmul-type ops) over this
  CPU's measured single-thread sgemm peak and a memory-bandwidth figure (large copy).

Writes ``benchmarks/results/knn.json`` and ``knn.md``.

    .venv/bin/python benchmarks/bench_knn.py                    # ~5 min on 2 busy cores
    .venv/bin/python benchmarks/bench_knn.py --nodes 200 400 --batch 16 --repeats 2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import DEMO, graphs, machine, model_batch  # noqa: E402

from gvae.model import GVAE, InferenceModel, ModelConfig  # noqa: E402
from gvae.model.adjacency import KnnAdjacency  # noqa: E402
from gvae.model.knn import knn_graph, knn_mincut, knn_propagate  # noqa: E402
from gvae.model.pooling import coarsen  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PAPER_MS_PER_JET = 130.88 / 64  # T4, batch 64


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Minimum wall time (s) of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def pair_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Alternate the candidates ``repeats`` times (after a warm-up each); min seconds per name."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: min(t) for name, t in times.items()}


def bench_ops(nodes: list[int], batch: int, repeats: int, clusters: int = 100) -> list[dict]:
    """Per-operation times (ms per batch), dense vs kNN, forward and forward+backward."""
    rows = []
    for n in nodes:
        f, nb, m = model_batch(graphs(batch, n, seed=n))
        adj = KnnAdjacency(True)(nb, m)
        graph = knn_graph(nb, m, True)
        g = torch.Generator().manual_seed(n)
        row: dict = {"nodes": n, "batch": batch,
                     "graph_build_ms": {k: 1000 * v for k, v in pair_times(
                         {"dense": lambda: KnnAdjacency(True)(nb, m),
                          "knn": lambda: knn_graph(nb, m, True)}, repeats).items()}}
        for width in (6, 32):
            x = torch.randn(batch, n, width, generator=g) * m.unsqueeze(-1)
            xg = x.clone().requires_grad_(True)

            def dense_fb(xg=xg):
                torch.matmul(adj, xg).sum().backward()

            def knn_fb(xg=xg):
                knn_propagate(xg, graph).sum().backward()

            with torch.no_grad():
                fwd = pair_times({"dense": lambda x=x: torch.matmul(adj, x),
                                  "knn": lambda x=x: knn_propagate(x, graph)}, repeats)
            fb = pair_times({"dense": dense_fb, "knn": knn_fb}, repeats)
            row[f"propagate_F{width}_ms"] = {k: 1000 * v for k, v in fwd.items()}
            row[f"propagate_F{width}_fwd_bwd_ms"] = {k: 1000 * v for k, v in fb.items()}
        s = torch.softmax(torch.randn(batch, n, clusters, generator=g) / 0.1, -1) * m.unsqueeze(-1)
        x = torch.randn(batch, n, 32, generator=g) * m.unsqueeze(-1)
        with torch.no_grad():
            pool = pair_times({"dense": lambda: coarsen(x, adj, s),
                               "knn": lambda: knn_mincut(x, s, graph, False)}, repeats)
        row["mincut_pool_C100_ms"] = {k: 1000 * v for k, v in pool.items()}
        for key in [k for k in row if k.endswith("_ms")]:
            row[key]["dense_over_knn"] = row[key]["dense"] / row[key]["knn"]
        rows.append(row)
        print("ops", json.dumps(row), flush=True)
        del adj
    return rows


def bench_models(nodes: list[int], batch: int, repeats: int) -> list[dict]:
    """Forward ms per jet of the encoder (+ latent) and of the whole model (paper decoder)."""
    rows = []
    for n in nodes:
        f, nb, m = model_batch(graphs(batch, n, seed=n))
        noise = torch.zeros(batch, 50, 16)
        models = {}
        for mode in ("dense", "knn"):
            torch.manual_seed(0)
            models[mode] = InferenceModel(GVAE(ModelConfig(max_nodes=n, k=8, message_passing=mode,
                                                           **DEMO)).eval())
        row: dict = {"nodes": n, "batch": batch, "clusters": DEMO["clusters"]}
        with torch.no_grad():
            enc = pair_times({mode: (lambda mm=mm: mm.latent(mm.encoder(f, mm.adjacency(nb, m), m)[0]))
                              for mode, mm in models.items()}, repeats)
            full = pair_times({mode: (lambda mm=mm: mm(f, nb, m, noise)) for mode, mm in models.items()},
                              repeats)
            diff = float((models["dense"](f, nb, m, noise) - models["knn"](f, nb, m, noise)).abs().max())
        row["encoder_ms_per_jet"] = {k: 1000 * v / batch for k, v in enc.items()}
        row["model_ms_per_jet"] = {k: 1000 * v / batch for k, v in full.items()}
        row["max_abs_diff_dense_knn"] = diff
        for mode, mm in models.items():
            with FlopCounterMode(display=False) as fc, torch.no_grad():
                mm.latent(mm.encoder(f, mm.adjacency(nb, m), m)[0])
            enc_flops = fc.get_total_flops() / batch
            with FlopCounterMode(display=False) as fc, torch.no_grad():
                mm(f, nb, m, noise)
            row.setdefault("encoder_mflop_per_jet", {})[mode] = enc_flops / 1e6
            row.setdefault("model_mflop_per_jet", {})[mode] = fc.get_total_flops() / batch / 1e6
        rows.append(row)
        print("model", json.dumps(row), flush=True)
        del models
    for key in ("encoder_ms_per_jet", "model_ms_per_jet"):
        for prev, cur in zip(rows, rows[1:]):
            cur.setdefault(key.replace("ms_per_jet", "growth_from_previous"), {})
            for mode in ("dense", "knn"):
                cur[key.replace("ms_per_jet", "growth_from_previous")][mode] = cur[key][mode] / prev[key][mode]
    return rows


def peaks(repeats: int) -> dict:
    """Single-thread sgemm GFLOP/s (1024^3 and batched 64x[400x32]x[32x32]) and copy GB/s."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    t = best_of(lambda: torch.mm(a, b), repeats)
    big = torch.randn(64 * 1024 * 1024 // 4)  # 64 MiB
    dst = torch.empty_like(big)
    tc = best_of(lambda: dst.copy_(big), repeats)
    return {"sgemm_1024_gflops": 2 * 1024 ** 3 / t / 1e9, "copy_gb_per_s": 2 * big.numel() * 4 / tc / 1e9}


def write_markdown(res: dict, path: Path) -> None:
    m, pk = res["machine"], res["peak"]
    lines = [f"# Dense vs kNN-list encoder ({m['cpu']}, {m['cores']} cores, torch {m['torch']}, one intra-op "
             f"thread, load average {m['load_average_1min']:.2f} at start, {res['load_average_end']:.2f} at end)",
             "", f"Command: `{res['command']}` ({res['seconds']:.0f} s). Times are the minimum of "
             f"{res['repeats']} alternated repeats (shared machine); ratios are from the same run. "
             f"Denormals flushed: {res['flush_denormal']}.", "",
             "On a machine this loaded (2 cores shared by several helpers) absolute times are inflated several-fold "
             "and noisy; read the dense / kNN ratios, which were measured alternately in the same run.", "",
             "## Per operation (ms per batch; dense `[B,N,N]` batched matmul vs `embedding_bag` over the sorted "
             "kNN rows, `gvae.model.knn`)", "",
             "graph_build = `KnnAdjacency` (dense) vs `knn_graph` (sort of the (2k+1)N keys per jet); "
             "propagate = `A X`; fwd_bwd adds the backward; mincut_pool = `S^T X`, `S^T A S` and its normalisation.",
             "",
             "| N | batch | op | dense | kNN | dense / kNN |", "|---:|---:|---|---:|---:|---:|"]
    for r in res["ops"]:
        for key in [k for k in r if k.endswith("_ms")]:
            v = r[key]
            lines.append(f"| {r['nodes']} | {r['batch']} | {key[:-3]} | {v['dense']:.2f} | {v['knn']:.2f} | "
                         f"{v['dense_over_knn']:.1f} |")
    lines += ["", f"## Forward per jet, clusters {res['models'][0]['clusters']} fixed, batch "
              f"{res['models'][0]['batch']}", "",
              "Encoder = node GraphSAGE + MinCut stages + latent heads (what `message_passing` changes); "
              "model = the exported signature with the paper decoder, which still builds `N x N` adjacencies "
              "when it unpools (the latent-only decoder replaces it).", "",
              "| N | encoder dense ms | encoder kNN ms | dense / kNN | growth dense | growth kNN | "
              "model dense ms | model kNN ms | growth model kNN | MFLOP/jet enc dense | enc kNN | max abs diff |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["models"]:
        e, f = r["encoder_ms_per_jet"], r["model_ms_per_jet"]
        ge = r.get("encoder_growth_from_previous", {})
        gm = r.get("model_growth_from_previous", {})
        lines.append(f"| {r['nodes']} | {e['dense']:.2f} | {e['knn']:.2f} | {e['dense'] / e['knn']:.1f} | "
                     f"{ge.get('dense', float('nan')):.2f} | {ge.get('knn', float('nan')):.2f} | {f['dense']:.2f} | "
                     f"{f['knn']:.2f} | {gm.get('knn', float('nan')):.2f} | "
                     f"{r['encoder_mflop_per_jet']['dense']:.1f} | {r['encoder_mflop_per_jet']['knn']:.1f} | "
                     f"{r['max_abs_diff_dense_knn']:.1e} |")
    lines += ["", "## Roofline estimate", "",
              f"Measured single-thread peak: sgemm 1024^3 {pk['sgemm_1024_gflops']:.1f} GFLOP/s; copy "
              f"{pk['copy_gb_per_s']:.1f} GB/s. FLOPs count matmul-type ops only (gathers/scatters are memory "
              "traffic), so `FLOPs / peak` is the compute floor of one jet on one core.", "",
              "| N | part | formulation | MFLOP / jet | floor ms / jet | measured ms / jet | measured / floor | "
              "measured / paper's T4 2.05 ms |", "|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in res["models"]:
        for part in ("encoder", "model"):
            for mode in ("dense", "knn"):
                mf = r[f"{part}_mflop_per_jet"][mode]
                floor = mf / 1e3 / pk["sgemm_1024_gflops"] * 1e3
                ms = r[f"{part}_ms_per_jet"][mode]
                lines.append(f"| {r['nodes']} | {part} | {mode} | {mf:.1f} | {floor:.3f} | {ms:.2f} | "
                             f"{ms / floor:.1f} | {ms / PAPER_MS_PER_JET:.1f} |")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--markdown-only":  # rewrite knn.md from a knn.json
        write_markdown(json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[2]).with_suffix(".md"))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, nargs="+", default=[200, 400, 800, 1600], help="node counts N")
    p.add_argument("--batch", type=int, default=64, help="jets per batch for the per-op times (default 64)")
    p.add_argument("--model-batch", type=int, default=16,
                   help="jets per batch for the model forward (default 16; the dense model at N = 1600 needs "
                        "several GB per batch of 64)")
    p.add_argument("--repeats", type=int, default=3, help="alternated timed repeats, minimum kept (default 3)")
    p.add_argument("--keep-denormals", action="store_true",
                   help="do not flush denormals (by default both formulations run with torch.set_flush_denormal(True): "
                        "the near-hard assignments at temperature 0.1 produce denormal floats that make "
                        "elementwise ops on pooled tensors 10x slower)")
    p.add_argument("--skip-ops", action="store_true", help="only the model forward and the roofline")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = p.parse_args()
    torch.set_num_threads(1)
    flush = torch.set_flush_denormal(not args.keep_denormals) and not args.keep_denormals
    t0 = time.perf_counter()
    res: dict = {"machine": machine(), "command": "python " + " ".join(sys.argv), "repeats": args.repeats,
                 "flush_denormal": flush}
    res["peak"] = peaks(args.repeats)
    print("peak", json.dumps(res["peak"]), flush=True)
    res["ops"] = [] if args.skip_ops else bench_ops(args.nodes, args.batch, args.repeats)
    res["models"] = bench_models(args.nodes, args.model_batch, args.repeats)
    res["seconds"] = time.perf_counter() - t0
    res["load_average_end"] = os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "knn.json").write_text(json.dumps(res, indent=1) + "\n")
    write_markdown(res, args.out / "knn.md")
    print((args.out / "knn.md").read_text())


if __name__ == "__main__":
    main()
