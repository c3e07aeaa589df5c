"""Set decoder cost: the padded slot layout (every slot of ``max_b counts[b, c]`` per channel, or the
whole budget as the exported graphs did) against the packed layout (only the real slots, issue 15),
and ``nn.MultiheadAttention`` against the functional SDPA / einsum / bmm attention, side by side.

On the demo checkpoint's decoder and the real per-channel hit counts of held-out test graphs, one
intra-op thread, variants alternated call by call, median over ``--repeats``:

* inference (``torch.inference_mode``), batch 1 and 64, predicted counts: whole budget (the
  exported graphs before issue 15), padded to the batch's per-channel maxima (the eager decoder
  before), packed (now);
* training forward + backward at the training batch size with the true counts: padded vs packed;
* attention alone on ``[B, W, 64]`` slots x 50 tokens: the module, SDPA on its weights, einsum, bmm.

    nice -n 10 .venv/bin/python benchmarks/bench_decoder_layout.py --checkpoint demo_output/run/best.pt \
        --data demo_output/graphs
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load_average, machine  # noqa: E402

from gvae.export.source import load_source  # noqa: E402
from gvae.export.verify import held_out_inputs  # noqa: E402
from gvae.model.set_decoder import SetDecoder  # noqa: E402
from gvae.model.set_loss import true_counts  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def padded_decode(dec: SetDecoder, z: Tensor, counts: Tensor, g: Tensor, channel: Tensor, rank: Tensor) -> Tensor:
    """The decoder before issue 15: every slot of the layout (``channel [S]``, ``rank [S]``) for every
    jet, attention through the ``nn.MultiheadAttention`` modules -> xyu ``[B, S, 3]``."""
    n = counts[:, channel].clamp(min=1).to(torch.float32)
    rel = (rank.to(torch.float32) + 0.5) / n
    logr = torch.log1p(rank.to(torch.float32)).expand_as(rel) / dec.log_slot_norm
    onehot = nn.functional.one_hot(channel, 3).to(torch.float32).expand(len(counts), -1, -1)
    feats = torch.cat([rel.unsqueeze(-1), logr.unsqueeze(-1), onehot], dim=-1)
    mask = rank.unsqueeze(0) < counts[:, channel]
    tokens = dec.token(z) + dec.cluster_embedding
    slot_id = dec.slot_offset[channel] + rank
    q = dec.query(feats) + dec.slot_embedding[slot_id] + g.unsqueeze(1)
    for block in dec.blocks:
        kv = block.norm_kv(tokens)
        q = q + block.attn(block.norm_q(q), kv, kv, need_weights=False)[0]
        q = q + block.mlp(block.norm_mlp(q))
    out = dec.head(dec.norm_out(q)) + torch.einsum("bh,sho->bso", g, dec.slot_readout[slot_id])
    xy = out[..., :2] + dec.anchors(rel, rank)
    return torch.cat([xy, out[..., 2:]], dim=-1) * mask.unsqueeze(-1).to(q.dtype)


def _median_ms(fns: dict, repeats: int) -> dict:
    times: dict = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def attention_variants(mha: nn.MultiheadAttention) -> dict:
    h, heads = mha.embed_dim, mha.num_heads
    d = h // heads
    w, bias = mha.in_proj_weight, mha.in_proj_bias

    def module(x, t):
        return mha(x, t, t, need_weights=False)[0]

    def sdpa(x, t):
        b, s, _ = x.shape
        q = F.linear(x, w[:h], bias[:h]).view(b, s, heads, d).transpose(1, 2)
        kv = F.linear(t, w[h:], bias[h:]).view(b, t.shape[1], 2, heads, d).permute(2, 0, 3, 1, 4)
        return mha.out_proj(F.scaled_dot_product_attention(q, kv[0], kv[1]).transpose(1, 2).reshape(b, s, h))

    def einsum(x, t):
        b, s, _ = x.shape
        q = F.linear(x, w[:h], bias[:h]).view(b, s, heads, d) * d ** -0.5
        kv = F.linear(t, w[h:], bias[h:]).view(b, t.shape[1], 2, heads, d)
        a = torch.einsum("bshd,bchd->bhsc", q, kv[:, :, 0]).softmax(-1)
        return mha.out_proj(torch.einsum("bhsc,bchd->bshd", a, kv[:, :, 1]).reshape(b, s, h))

    def bmm(x, t):
        b, s, _ = x.shape
        q = F.linear(x, w[:h] * d ** -0.5, bias[:h] * d ** -0.5).view(b, s, heads, d).transpose(1, 2)
        kv = F.linear(t, w[h:], bias[h:]).view(b, t.shape[1], 2, heads, d).permute(2, 0, 3, 1, 4)
        a = torch.bmm(q.reshape(b * heads, s, d), kv[0].reshape(b * heads, -1, d).transpose(1, 2)).softmax(-1)
        o = torch.bmm(a, kv[1].reshape(b * heads, -1, d)).view(b, heads, s, d).transpose(1, 2)
        return mha.out_proj(o.reshape(b, s, h))
    return {"nn.MultiheadAttention": module, "SDPA on its weights": sdpa, "einsum": einsum, "bmm": bmm}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("demo_output/run/best.pt"))
    p.add_argument("--data", type=Path, default=Path("demo_output/graphs"))
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--train-batch", type=int, default=16)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    source = load_source(args.checkpoint)
    gvae = source.gvae
    dec: SetDecoder = gvae.decoder
    budget_channel = torch.repeat_interleave(torch.arange(3), torch.tensor(dec.slots))
    budget_rank = torch.cat([torch.arange(s) for s in dec.slots])
    load_before, rows = load_average(), []
    for b in (1, 64):
        f, nb, m = held_out_inputs(args.data, source, b, torch.device("cpu"))
        with torch.inference_mode():
            mu, _ = gvae.encode(f, nb, m)
            counts, _, _, g = dec.predict_counts(mu)
            _, ch, rk, _ = dec.slot_layout(counts)
            fns = {"whole budget, MHA (export before)": lambda: padded_decode(dec, mu, counts, g, budget_channel, budget_rank),
                   "per-channel max, MHA (eager before)": lambda: padded_decode(dec, mu, counts, g, ch, rk),
                   "packed, SDPA (now)": lambda: dec.decode_slots(mu, counts, g)}
            ms = _median_ms(fns, args.repeats)
        rows.append({"case": f"inference, batch {b}", "slots_per_jet": float(counts.sum()) / b,
                     "ms_per_jet": {k: v / b for k, v in ms.items()}})
        print(rows[-1], flush=True)
    b = args.train_batch
    f, nb, m = held_out_inputs(args.data, source, b, torch.device("cpu"))
    gvae.train()
    with torch.no_grad():
        mu, _ = gvae.encode(f, nb, m)
        counts = true_counts(f, m)
    mu = mu.detach()

    def step(fn):
        def run():
            gvae.zero_grad(set_to_none=True)
            z = mu.clone().requires_grad_(True)
            g = dec.glob(z.flatten(1))
            fn(z, g).square().sum().backward()
        return run
    _, ch, rk, _ = dec.slot_layout(counts)
    ms = _median_ms({"per-channel max, MHA (before)": step(lambda z, g: padded_decode(dec, z, counts, g, ch, rk)),
                     "packed, SDPA (now)": step(lambda z, g: dec.decode_slots(z, counts, g)[0])}, args.repeats)
    rows.append({"case": f"training forward + backward, batch {b} (true counts)",
                 "slots_per_jet": float(counts.sum()) / b, "ms_per_jet": {k: v / b for k, v in ms.items()}})
    print(rows[-1], flush=True)
    mha = dec.blocks[0].attn
    attn_rows = []
    with torch.inference_mode():
        for b, s in ((1, 400), (64, 600)):
            x, t = torch.randn(b, s, mha.embed_dim), torch.randn(b, dec.clusters, mha.embed_dim)
            variants = attention_variants(mha)
            ref = variants["nn.MultiheadAttention"](x, t)
            err = {k: float((fn(x, t) - ref).abs().max()) for k, fn in variants.items()}
            ms = _median_ms({k: (lambda fn=fn: fn(x, t)) for k, fn in variants.items()}, args.repeats)
            attn_rows.append({"batch": b, "slots": s, "ms": ms, "max_abs_diff": err})
            print(attn_rows[-1], flush=True)
    load_after = load_average()
    info = machine()
    cmd = "python benchmarks/bench_decoder_layout.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (RESULTS / "decoder_layout.json").write_text(json.dumps(
        {"machine": info, "command": cmd, "load_average": [load_before, load_after], "rows": rows,
         "attention": attn_rows}, indent=1))
    lines = [f"# Set decoder: padded vs packed slot layout, attention variants ({info['cpu']}, {info['cores']} cores, "
             f"torch {torch.__version__}, 1 intra-op thread, load average {load_before} before, {load_after} after)", "",
             f"Command: `{cmd}`", "",
             "Demo checkpoint's decoder, counts predicted from held-out test graphs (inference) or their true counts "
             "(training); variants alternated call by call, medians of the repeats, ms per jet.", "",
             "| case | real slots per jet | variant | ms per jet | vs first |", "|---|---:|---|---:|---:|"]
    for r in rows:
        first = next(iter(r["ms_per_jet"].values()))
        for k, v in r["ms_per_jet"].items():
            lines.append(f"| {r['case']} | {r['slots_per_jet']:.0f} | {k} | {v:.3f} | {first / v:.2f}x |")
    lines += ["", "Attention alone (random inputs, 50 tokens, the decoder's first block's weights):", "",
              "| batch x slots | variant | ms per call | max abs diff vs module |", "|---|---|---:|---:|"]
    for r in attn_rows:
        for k, v in r["ms"].items():
            lines.append(f"| {r['batch']} x {r['slots']} | {k} | {v:.3f} | {r['max_abs_diff'][k]:.1e} |")
    (RESULTS / "decoder_layout.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
