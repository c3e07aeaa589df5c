"""Reconstruction and generation baselines of issue 14 on a converted graph directory, without a model:
latent-only PCA and true-mask PCA at each latent size, and the Gaussian-PCA generator against the
held-out jets per type with truth floors. Writes OUT/baselines_<K>.json, OUT/report_<K>.md and plots.

    python scripts/baseline_study.py --data demo_output/graphs --latent 200 800 --out runs/baselines
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="graph directory of `python -m gvae.data convert`")
    p.add_argument("--latent", type=int, nargs="+", default=[200, 800], help="latent sizes (numbers per jet)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator samples and floors")
    p.add_argument("--workers", type=int, default=2, help="EMD worker processes")
    p.add_argument("--no-plots", action="store_true", help="skip the generation plots")
    args = p.parse_args(argv)

    from gvae.evaluate.generation import JetSample, evaluate_generation
    from gvae.evaluate.latent_pca import GaussianPCAGenerator, jet_type_names
    from gvae.evaluate.reconstruction import evaluate_reconstruction_baselines
    from gvae.evaluate.report import _clean
    from gvae.evaluate.report_generation import generation_markdown, reconstruction_markdown
    from gvae.graphs.shards import GraphShards

    train_s, test_s = GraphShards(args.data, "train"), GraphShards(args.data, "test")
    norm = train_s.normalisation
    train = {k: torch.as_tensor(v).numpy() for k, v in train_s.arrays().items()}
    test = {k: torch.as_tensor(v).numpy() for k, v in test_s.arrays().items()}
    args.out.mkdir(parents=True, exist_ok=True)
    for k in args.latent:
        t0 = time.perf_counter()
        res = evaluate_reconstruction_baselines(train, test, k, norm, workers=args.workers)
        lo = res["models"]["latent_only_pca"]
        z = np.concatenate([lo.encode(norm.apply(torch.as_tensor(train["features"][i:i + 256]),
                                                 torch.as_tensor(train["mask"][i:i + 256])), train["mask"][i:i + 256])
                            for i in range(0, len(train["features"]), 256)])
        gen = GaussianPCAGenerator(lo, norm).fit(z, jet_type_names(train["y"]))
        types = jet_type_names(test["y"])
        real, fake = {}, {}
        for j, t in enumerate(sorted(set(types))):
            idx = np.flatnonzero(types == t)
            real[t] = JetSample([res["hits"]["original"][int(i)] for i in idx], np.zeros(len(idx)))
            fake[t] = gen.sample(t, len(idx), args.seed + 7919 * j)
        generation = evaluate_generation(real, None, None if args.no_plots else args.out / f"plots_{k}", args.seed,
                                         baselines={"gaussian_pca": fake}, workers=args.workers)
        section = {"latent_size": k, "n_train": res["n_train"], "n_test": res["n_test"],
                   "models": {n: {kk: b[kk] for kk in ("label", "emd", "observables", "summary")}
                              for n, b in res["baselines"].items()}}
        report = _clean({"reconstruction_baselines": section, "generation": generation,
                         "seconds": time.perf_counter() - t0})
        (args.out / f"baselines_{k}.json").write_text(json.dumps(report, indent=1) + "\n")
        md = reconstruction_markdown(report["reconstruction_baselines"]) + generation_markdown(report["generation"])
        (args.out / f"report_{k}.md").write_text("\n".join(md) + "\n")
        print("\n".join(md[:12]))
        print(f"latent {k}: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
