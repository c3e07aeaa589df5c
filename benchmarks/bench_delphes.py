"""Delphes conversion benchmark: events/s and jets/s of ``convert --from delphes`` on one synthetic
Delphes-shaped tree, side by side in one run: FastJet clustering (``--jets eflow``) vs the file's jets
(``--jets file``), and chunks of 100 vs 1000 events.

Writes ``benchmarks/results/delphes.json`` and ``delphes.md`` with the machine and its load average.
Default ``--events 3000`` (~1-3 jets of pT >= 40 GeV per event) takes well under a minute on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import _machine  # benchmarks/_machine.py (a script's folder is on sys.path)
from gvae.data.delphes import DelphesOptions, convert_delphes
from gvae.data.delphes_synthetic import synthetic_events, write_delphes

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="events in the synthetic tree (default: 3000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per case, the fastest is kept (default: 2)")
    parser.add_argument("--out", default=str(RESULTS), help="results directory")
    args = parser.parse_args()
    cases = [("eflow, chunk 1000", DelphesOptions(pt_min=40.0, eta_max=math.inf, chunk_size=1000)),
             ("eflow, chunk 100", DelphesOptions(pt_min=40.0, eta_max=math.inf, chunk_size=100)),
             ("file jets, chunk 1000", DelphesOptions(pt_min=40.0, eta_max=math.inf, chunk_size=1000, jets="file"))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = write_delphes(Path(tmp) / "events.root", synthetic_events(args.events, seed=7), baskets=10)
        for name, options in cases:
            best, n_jets = math.inf, 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                report = convert_delphes(src, Path(tmp) / "jets.parquet", options, write_report=False, progress=False)
                best = min(best, time.perf_counter() - t0)
                n_jets = report.n_jets
            rows.append({"case": name, "events": args.events, "jets": n_jets, "seconds": best,
                         "events_per_s": args.events / best, "jets_per_s": n_jets / best})
    m = _machine.machine("uproot", "awkward", "fastjet", "pyarrow")
    result = {"command": f"python benchmarks/bench_delphes.py --events {args.events} --repeat {args.repeat}",
              "machine": m, "output": "parquet", "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "delphes.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Delphes conversion (`convert --from delphes`, synthetic tree, parquet output)", "",
             f"Command: `{result['command']}`; {_machine.describe(m)} (shared machine).", "",
             "| case | events | jets | s | events/s | jets/s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['events']} | {r['jets']} | {r['seconds']:.2f} | {r['events_per_s']:.0f} | "
              f"{r['jets_per_s']:.0f} |" for r in rows]
    (out / "delphes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
