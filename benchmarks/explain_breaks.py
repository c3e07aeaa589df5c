"""Graph breaks of the training forward and of the exported entry points under torch.compile
(``torch._dynamo.explain``), on real batches of a converted graph directory.

    nice -n 10 .venv/bin/python benchmarks/explain_breaks.py --checkpoint demo_output/run/best.pt \
        --data demo_output/graphs [--check]

Prints, per callable, the number of graphs, graph breaks and each break's reason and location.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch._dynamo

from gvae.export.source import load_source
from gvae.export.verify import held_out_inputs, simulate_conditions


def _report(name: str, explanation) -> dict:
    print(f"== {name}: {explanation.graph_count} graphs, {explanation.graph_break_count} breaks")
    seen = {}
    for b in explanation.break_reasons:
        where = b.user_stack[-1] if b.user_stack else None
        key = (b.reason.splitlines()[0][:160], f"{where.filename.split('python/')[-1]}:{where.lineno}" if where else "?")
        seen[key] = seen.get(key, 0) + 1
    for (reason, where), count in seen.items():
        print(f"   {count}x {where}: {reason}")
    return {"graphs": explanation.graph_count, "breaks": explanation.graph_break_count,
            "reasons": [{"where": w, "reason": r, "count": c} for (r, w), c in seen.items()]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("demo_output/run/best.pt"))
    p.add_argument("--data", type=Path, default=Path("demo_output/graphs"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--check", action="store_true", help="training forward with check=True (input validation)")
    p.add_argument("--capture-scalars", action="store_true",
                   help="torch._dynamo.config.capture_scalar_outputs = True (.item() / .tolist() traced)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.capture_scalars:
        torch._dynamo.config.capture_scalar_outputs = True
        torch._dynamo.config.capture_dynamic_output_shape_ops = True
    source = load_source(args.checkpoint)
    gvae = source.gvae.train()
    f, nb, m = held_out_inputs(args.data, source, args.batch, torch.device("cpu"))
    noise = torch.zeros(args.batch, source.clusters, source.latent_dim)

    def training_forward(f, nb, m, noise):
        return gvae(f, nb, m, noise, args.check)
    _report("GVAE.forward (training, latent decoder)", torch._dynamo.explain(training_forward)(f, nb, m, noise))
    torch._dynamo.reset()
    entry = source.model.eval()
    with torch.no_grad():
        _report("reconstruct", torch._dynamo.explain(entry.reconstruct)(f, nb, m, noise, torch.zeros(args.batch, 3)))
        torch._dynamo.reset()
        _report("simulate", torch._dynamo.explain(entry.simulate)(
            simulate_conditions(source, args.batch), torch.zeros(args.batch, source.clusters * source.latent_dim),
            torch.zeros(args.batch, 3)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
