"""Dense vs kNN-list formulation of the encoder (``model.message_passing``), side by side.

Measured in one run on one intra-op thread (the machine is shared: ratios of alternated
measurements, minimum of the repeats, load average recorded):

* per operation, forward and forward+backward, batch ``--batch`` (default 64): node-level
  message passing ``A X`` (dense batched matmul on ``[B, N, N]`` vs gather + scatter-add on the
  ``[B, N, k]`` list) at the input and hidden widths, and the first MinCut pooling
  ``S^T A S`` with C = 100 clusters, at N = 200/400/800/1600;
* the first MinCut pooling with its losses, forward + backward (the training path): dense
  ``dense_mincut_pool`` vs the kNN formulation before this branch (``tr(S^T A S)`` as the N x C
  product ``sum(S * AS)``) vs now (the trace of the pooled C x C matrix);
* the encoder (+ latent heads) and the whole default model (``configs/demo.yaml``: latent-only set
  decoder, decoding the true hit counts as in training) forward per jet for both formulations at
  each N with fixed clusters ``[100, 50]``, and the growth from N to 2N;
* a roofline estimate: FLOPs per jet (``torch.utils.flop_counter``: matmul-type ops) of the
  forward and of a training step (forward + backward) over this CPU's measured single-thread sgemm
  peak and a memory-bandwidth figure (large copy).

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
from bench_train import graphs, machine, model_batch  # noqa: E402

from torch_geometric.nn import dense_mincut_pool  # noqa: E402

from gvae.model import GVAE, ModelConfig  # noqa: E402
from gvae.model.adjacency import KnnAdjacency  # noqa: E402
from gvae.model.knn import knn_graph, knn_mincut, knn_propagate, normalise_pooled  # noqa: E402
from gvae.model.pooling import coarsen  # noqa: E402
from gvae.model.set_loss import true_counts  # noqa: E402
from gvae.train.config import load_config  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PAPER_MS_PER_JET = 130.88 / 64  # T4, batch 64
ROOT = Path(__file__).resolve().parents[1]


def knn_mincut_before(x: torch.Tensor, s: torch.Tensor, graph) -> tuple:
    """``gvae.model.knn.knn_mincut`` with losses as it was before this branch (reference for the
    side-by-side timing): ``tr(S^T A S)`` as the ``[B, N, C]`` product ``sum(S * AS)``."""
    a_s = knn_propagate(s, graph)
    st = s.transpose(1, 2)
    out = torch.bmm(st, x)
    pooled = torch.bmm(st, a_s)
    num = (s * a_s).sum(dim=(1, 2))
    den = (graph[3].to(s.dtype) * (s * s).sum(-1)).sum(-1)
    mincut = torch.mean(-(num / den))
    ss = torch.bmm(st, s)
    eye = torch.eye(s.size(-1), dtype=ss.dtype)
    ortho = torch.mean(torch.linalg.matrix_norm(
        ss / torch.linalg.matrix_norm(ss, keepdim=True) - eye / torch.linalg.matrix_norm(eye)))
    return out, normalise_pooled(pooled), mincut, ortho


def default_config(n: int, message_passing: str) -> ModelConfig:
    """``configs/demo.yaml``'s model with ``max_nodes = n`` and the automatic slot budget
    (proportional to ``n``; the demo's ``[160, 704, 160]`` is the one for 1024)."""
    return load_config(ROOT / "configs" / "demo.yaml", [f"model.max_nodes={n}", "model.slots=[]",
                                                        f"model.message_passing={message_passing}"]).model


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
        logits = torch.randn(batch, n, clusters, generator=g)

        def pool_fb(kind: str) -> Callable[[], None]:
            def run() -> None:
                xg, lg = x.clone().requires_grad_(True), logits.clone().requires_grad_(True)
                if kind == "dense":
                    o, a, mc, oc = dense_mincut_pool(xg, adj, lg, m, 0.1)
                else:
                    sg = torch.softmax(lg / 0.1, -1) * m.unsqueeze(-1)
                    o, a, mc, oc = (knn_mincut_before(xg, sg, graph) if kind == "knn before"
                                    else knn_mincut(xg, sg, graph, True))
                (o.square().sum() + a.sum() + mc + oc).backward()
            return run
        fb = pair_times({k: pool_fb(k) for k in ("dense", "knn before", "knn")}, repeats)
        row["mincut_pool_losses_C100_fwd_bwd_ms"] = {k: 1000 * v for k, v in fb.items()}
        for key in [k for k in row if k.endswith("_ms")]:
            row[key]["dense_over_knn"] = row[key]["dense"] / row[key]["knn"]
            if "knn before" in row[key]:
                row[key]["before_over_knn"] = row[key]["knn before"] / row[key]["knn"]
        rows.append(row)
        print("ops", json.dumps(row), flush=True)
        del adj
    return rows


def bench_models(nodes: list[int], batch: int, repeats: int) -> list[dict]:
    """Forward ms per jet of the encoder (+ latent) and of the default model (latent-only set decoder
    decoding the true counts from the latent mean), and FLOPs per jet of the forward and of a
    training step (forward + loss-free backward of the sum of the outputs)."""
    rows = []
    for n in nodes:
        f, nb, m = model_batch(graphs(batch, n, seed=n))
        counts = true_counts(f, m)
        models = {}
        for mode in ("dense", "knn"):
            torch.manual_seed(0)
            models[mode] = GVAE(default_config(n, mode)).eval()
        row: dict = {"nodes": n, "batch": batch, "clusters": models["knn"].config.clusters,
                     "decoded_hits_per_jet": float(torch.minimum(counts, torch.tensor(
                         models["knn"].config.slot_budget)).sum(1).float().mean())}

        def encode(mm: GVAE) -> torch.Tensor:
            return mm.encode(f, nb, m, check=False)[0]

        def full(mm: GVAE):
            return mm.decoder(encode(mm), None, counts)
        with torch.no_grad():
            enc = pair_times({mode: (lambda mm=mm: encode(mm)) for mode, mm in models.items()}, repeats)
            fwd = pair_times({mode: (lambda mm=mm: full(mm)) for mode, mm in models.items()}, repeats)
            diff = float((full(models["dense"]).xyu - full(models["knn"]).xyu).abs().max())
        row["encoder_ms_per_jet"] = {k: 1000 * v / batch for k, v in enc.items()}
        row["model_ms_per_jet"] = {k: 1000 * v / batch for k, v in fwd.items()}
        row["max_abs_diff_dense_knn"] = diff
        for mode, mm in models.items():
            with FlopCounterMode(display=False) as fc, torch.no_grad():
                encode(mm)
            row.setdefault("encoder_mflop_per_jet", {})[mode] = fc.get_total_flops() / batch / 1e6
            with FlopCounterMode(display=False) as fc, torch.no_grad():
                full(mm)
            row.setdefault("model_mflop_per_jet", {})[mode] = fc.get_total_flops() / batch / 1e6
            mm.train()
            with FlopCounterMode(display=False) as fc:
                out = mm(f, nb, m, None, check=False)
                (out["decoded"].xyu.sum() + out["mincut_loss"] + out["ortho_loss"]).backward()
            row.setdefault("train_step_mflop_per_jet", {})[mode] = fc.get_total_flops() / batch / 1e6
            mm.eval()
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
            before = (f" (kNN before this branch: {v['knn before']:.2f}, before / now {v['before_over_knn']:.2f})"
                      if "knn before" in v else "")
            lines.append(f"| {r['nodes']} | {r['batch']} | {key[:-3]}{before} | {v['dense']:.2f} | {v['knn']:.2f} | "
                         f"{v['dense_over_knn']:.1f} |")
    lines += ["", f"## Forward per jet, clusters {res['models'][0]['clusters']} fixed, batch "
              f"{res['models'][0]['batch']}", "",
              "Encoder = node GraphSAGE + MinCut stages + latent heads (what `message_passing` changes); "
              "model = the default `configs/demo.yaml` model: encoder + latent-only set decoder decoding the true "
              "hit counts (capped at the automatic slot budget for max_nodes = N) from the latent mean, as in training. "
              "Decoded hits per jet: " + ", ".join(f"{r['decoded_hits_per_jet']:.0f} at N = {r['nodes']}"
                                                    for r in res["models"]) + ".", "",
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
    train_rows = []
    for r in res["models"]:
        for part in ("encoder", "model"):
            for mode in ("dense", "knn"):
                mf = r[f"{part}_mflop_per_jet"][mode]
                floor = mf / 1e3 / pk["sgemm_1024_gflops"] * 1e3
                ms = r[f"{part}_ms_per_jet"][mode]
                lines.append(f"| {r['nodes']} | {part} | {mode} | {mf:.1f} | {floor:.3f} | {ms:.2f} | "
                             f"{ms / floor:.1f} | {ms / PAPER_MS_PER_JET:.1f} |")
        tf = r["train_step_mflop_per_jet"]["knn"]
        train_rows.append(f"| {r['nodes']} | {tf:.1f} | {pk['sgemm_1024_gflops'] * 1e3 / tf:.0f} | "
                          f"{2 * pk['sgemm_1024_gflops'] * 1e3 / tf:.0f} |")
    lines += ["", "Training step (forward + backward of the default model, kNN) FLOPs per jet and the compute-bound "
              "ceiling of training throughput at the measured single-thread peak (1 core; 2 cores = 2 processes):",
              "", "| N | MFLOP / jet (train step) | ceiling graphs/s, 1 core | ceiling graphs/s, 2 cores |",
              "|---:|---:|---:|---:|", *train_rows]
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
