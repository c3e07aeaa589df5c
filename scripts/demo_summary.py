"""Print the summary of a `make demo` run: what each step produced, the headline numbers, and where
the plots and reports are. Reads only the files the steps wrote; fails if one is missing."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        sys.exit(f"demo summary: expected output missing: {path}")
    return json.loads(path.read_text())


def _fmt(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, help="the demo output directory (demo_output/)")
    parser.add_argument("--seconds", type=float, default=None, help="wall-clock seconds of the whole demo")
    args = parser.parse_args(argv)
    out: Path = args.out

    dataset = _load(out / "graphs" / "dataset.json")
    report = _load(out / "eval" / "report.json")
    export = _load(out / "export" / "summary.json")
    compare = _load(out / "cmssw" / "compare.json")
    timing = _load(out / "cmssw" / "timing.json")
    training = _load(out / "run" / "summary.json")

    counts = {k: v["count"] for k, v in dataset["splits"].items()}
    trunc = dataset["truncation"]
    print(f"data      : {out/'jets.parquet'} -> graphs {counts} (k={dataset['k']}, "
          f"max_nodes={dataset['max_nodes']}); {trunc['jets_truncated']} of {trunc['jets']} jets truncated "
          f"({100 * trunc['fraction_truncated']:.1f}%)")
    val = training["final_val"]
    print(f"training  : latent-only GVAE, {training['epochs_done']} epochs in {training['seconds']:.0f} s, best epoch "
          f"{training['best_epoch']}, val loss {training['best_val_loss']:.3f} (set recon {val['recon']:.4f}: "
          f"OT {val['ot']:.4f}, energy {val['energy']:.4f}, count {val['count']:.3f}; KL {val['kl']:.2f})")
    emd = report["emd"]
    rows = []
    for ch in emd["channels"]:
        rows.append(f"{ch}: GVAE {_fmt(emd['gvae'][ch]['median'])} vs latent-only PCA "
                    f"{_fmt(emd['latent_pca'][ch]['median'])} (random other jet {_fmt(emd['other_jet'][ch]['median'])})")
    print(f"evaluation: median EMD [GeV] through the latent ({report['checkpoint']['latent']['size']} numbers) on "
          f"{report['data']['n_jets']} test jets -> " + "; ".join(rows))
    sim = out / "simulated.parquet"
    if not sim.is_file():
        sys.exit(f"demo summary: expected output missing: {sim}")
    print(f"simulation: {sim} (python -m gvae.simulate from the prior), displays in {out/'simulated_inspect'}")
    worst = max((a.get("max_abs_diff", 0.0) for a in export["artifacts"].values()), default=float("nan"))
    print(f"export    : {out/'export'}  (latent-decoder model, contract v2, entry points reconstruct + simulate: "
          f"TorchScript .pt + AOTInductor .pt2, verified against eager: max |d| {worst:.2g}, "
          f"{'ok' if export.get('verify', {}).get('ok') else 'NOT VERIFIED'})")
    print(f"cmssw     : gvaeRun, {timing['streams']} streams: {timing['events']} held-out jets in "
          f"{timing['loop_seconds']:.2f} s ({timing['events_per_second']:.0f} events/s); vs Python bindings: "
          f"max |dx| {compare['max_abs_dx']:.2g}, max rel |dE| {compare['max_rel_denergy']:.2g} -> "
          f"{'AGREE' if compare['ok'] else 'DIFFER'}")
    print("plots     :")
    for png in sorted((out / "inspect").glob("*.png"))[:3] + sorted((out / "eval").glob("*.png"))[:6]:
        print(f"  {png}")
    print(f"reports   : {out/'eval'/'report.md'}, {out/'eval'/'report.json'}, {out/'cmssw'/'gvaeRun.log'}")
    if args.seconds is not None:
        print(f"demo took {args.seconds:.0f} s")
    return 0 if compare.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
