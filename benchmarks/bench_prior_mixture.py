"""Cost of the mixture prior in the exported ``simulate`` entry point: the same model with its mixture
prior and with the one-Gaussian prior it refines (the checkpoint's own Gaussians, ``components = 1``),
side by side in one run (the four calls alternate, best of ``--repeats``): the whole entry point (prior +
decoder) and the prior alone (``z`` only), eager :class:`gvae.export.entry.LatentEntryPoints`, one thread,
batch ``--batch`` of mixed types.

Usage: ``python benchmarks/bench_prior_mixture.py --checkpoint CKPT [--batch 64] [--repeats 20]``.
Writes ``benchmarks/results/prior_mixture.json`` and ``prior_mixture.md``.
"""
from __future__ import annotations

import argparse
import copy
import os

import torch

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)
from bench_knn import pair_times
from gvae.export.entry import LatentEntryPoints
from gvae.model import load_model
from gvae.model.prior import component_noise



def _prior_only(ep: LatentEntryPoints, conditions: torch.Tensor, latent_noise: torch.Tensor) -> torch.Tensor:
    """The prior part of :meth:`LatentEntryPoints.simulate` (z ``[B, D]`` float64), the same operations."""
    b = conditions.shape[0]
    k = torch.round(conditions[:, 0]).to(torch.int64)
    t = (torch.log(conditions[:, 1]) - ep.logpt_mean) / ep.logpt_std
    eps = latent_noise.to(torch.float64)
    comp, eps0 = component_noise(eps[:, 0], ep.prior_cum[k], ep.prior_ncomp[k])
    eps = torch.cat([eps0.unsqueeze(1), eps[:, 1:]], 1)
    scaled = torch.matmul(eps.unsqueeze(0), ep.prior_chol_t)
    which = ep.prior_start[k] + comp
    scaled = scaled.gather(0, which.view(1, b, 1).expand(1, b, eps.shape[1])).squeeze(0)
    return ep.prior_mean[k] + t.unsqueeze(1) * ep.prior_slope[k] + ep.prior_offsets[which] + scaled


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", required=True, help="latent-decoder checkpoint whose prior is a mixture")
    p.add_argument("--batch", type=int, default=64, help="jets per call, half of each type (default: 64)")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per figure (default: 20)")
    args = p.parse_args()
    torch.set_num_threads(1)
    loaded = load_model(args.checkpoint)
    mixture = loaded.prior
    gaussian = copy.deepcopy(mixture)
    gaussian.weights, gaussian.offsets, gaussian.component_chol = {}, {}, {}
    types = sorted(mixture.chol)
    gen = torch.Generator().manual_seed(0)
    label = torch.tensor([types[i % len(types)] for i in range(args.batch)], dtype=torch.float64)
    conditions = torch.stack([label, torch.full((args.batch,), 700.0, dtype=torch.float64)], 1)
    latent_noise = torch.randn(args.batch, mixture.dim, generator=gen)
    count_noise = torch.randn(args.batch, 3, generator=gen)
    priors = {"one Gaussian per type": gaussian, "mixture": mixture}
    eps = {name: LatentEntryPoints(loaded.model.eval(), prior).eval() for name, prior in priors.items()}
    fns = {}
    for name, ep in eps.items():
        fns[(name, "simulate")] = lambda ep=ep: ep.simulate(conditions, latent_noise, count_noise)
        fns[(name, "prior")] = lambda ep=ep: _prior_only(ep, conditions, latent_noise)
    load_before = os.getloadavg()[0]
    with torch.no_grad():
        best = pair_times(fns, args.repeats)
    rows = [{"prior": name, "components": {int(k): prior.components(k) for k in types},
             "simulate_ms_per_jet": 1e3 * best[(name, "simulate")] / args.batch,
             "prior_ms_per_jet": 1e3 * best[(name, "prior")] / args.batch} for name, prior in priors.items()]
    result = {"machine": _machine.machine(), "checkpoint": str(args.checkpoint), "latent": list(mixture.shape),
              "batch": args.batch, "threads": 1, "load_average_before": load_before,
              "load_average_after": os.getloadavg()[0], "rows": rows,
              "command": f"python benchmarks/bench_prior_mixture.py --checkpoint {args.checkpoint} --batch {args.batch} "
                         f"--repeats {args.repeats}"}
    base = rows[0]
    lines = ["# Mixture prior: cost in `simulate` (`benchmarks/bench_prior_mixture.py`)", "",
             f"`{result['command']}` (latent {mixture.shape[0]} x {mixture.shape[1]}; machine: "
             f"{result['machine']['cpu']}, {result['machine']['cores']} cores, {result['machine']['date']}); eager "
             f"`LatentEntryPoints.simulate`, 1 thread, batch {args.batch} (types alternating), best of "
             f"{args.repeats} alternating calls; 1-minute load average {load_before:.1f} before, {result['load_average_after']:.1f} "
             "after. The prior computes eps L^T for every component of every type and keeps each jet's own "
             "(static shapes for the exports), so its cost grows with the total number of components.", "",
             "| prior | components per type | simulate ms/jet | prior alone ms/jet | simulate vs one Gaussian |",
             "|---|---|---|---|---|"]
    for r in rows:
        comps = ", ".join(f"{k}: {v}" for k, v in r["components"].items())
        lines.append(f"| {r['prior']} | {comps} | {r['simulate_ms_per_jet']:.3f} | {r['prior_ms_per_jet']:.3f} | "
                     f"{r['simulate_ms_per_jet'] / base['simulate_ms_per_jet']:.2f}x |")
    _machine.write_results("prior_mixture", result, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
