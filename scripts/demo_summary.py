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
    compare = _load(out / "cmssw" / "compare.json")
    timing = _load(out / "cmssw" / "timing.json")
    metrics_path = out / "run" / "metrics.json"
    metrics = _load(metrics_path) if metrics_path.is_file() else None

    splits = dataset.get("splits", {})
    counts = {k: (v.get("n_jets", v) if isinstance(v, dict) else v) for k, v in splits.items()}
    trunc = dataset.get("truncation", {})
    print(f"data      : {out/'jets.parquet'}  graphs {counts} (k={dataset.get('k')}, "
          f"max_nodes={dataset.get('max_nodes')}), truncation: {json.dumps(trunc)[:160]}")
    if metrics is not None:
        best = metrics.get("best", metrics)
        print(f"training  : {out/'run'}  best {json.dumps(best)[:200]}")
    emd = report["emd"]
    rows = []
    for ch in emd["channels"]:
        g, b = emd["gvae"][ch]["median"], emd["baseline"][ch]["median"]
        rows.append(f"{ch}: GVAE {_fmt(g)} vs PCA {_fmt(b)}")
    print(f"evaluation: median EMD [GeV] on {report['data']['n_jets']} test jets -> " + "; ".join(rows))
    print(f"export    : {out/'export'}  (TorchScript .pt + AOTInductor .pt2, contract sidecars, verified)")
    print(f"cmssw     : {compare.get('jets', '?')} held-out jets, example vs bindings agree: {compare.get('ok')}"
          f"  ({json.dumps(timing)[:200]})")
    print("plots     :")
    for png in sorted((out / "inspect").glob("*.png"))[:3] + sorted((out / "eval").glob("*.png"))[:6]:
        print(f"  {png}")
    print(f"reports   : {out/'eval'/'report.md'}, {out/'eval'/'report.json'}, {out/'cmssw'/'gvaeRun.log'}")
    if args.seconds is not None:
        print(f"demo took {args.seconds:.0f} s")
    return 0 if compare.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
