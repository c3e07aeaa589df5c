"""Collect the tables of the latent-only GVAE study (scripts/latent_study.sh) into one markdown file.

Reads, per latent size L, ``$OUT/run_ldL/summary.json`` (training) and ``$OUT/eval_ldL/report.json``
(``python -m gvae.evaluate`` of a latent-decoder checkpoint), plus ``$OUT/graphs/dataset.json``, and
writes the reconstruction table (median all-channel and per-channel EMD of the latent-only GVAE, the
latent-only PCA, the PCA given the true mask and the random-other-jet scale) and the generation table
(per jet type, GVAE and Gaussian-PCA: FPD, KPD, AUC and W1s as multiples of their truth floors) for
every latent size, followed by each full report. Fails (exit 2) when an expected file is missing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        print(f"latent study tables: missing {path}", file=sys.stderr)
        raise SystemExit(2)
    return json.loads(path.read_text())


def _f(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def _x(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def tables(out: Path, latents: list[str], commands: str) -> str:
    """The markdown text (module docstring)."""
    dataset = _load(out / "graphs" / "dataset.json")
    counts = {k: v["count"] for k, v in dataset["splits"].items()}
    lines = ["# Latent-only GVAE study (issue 14)", "",
             f"Data: `{out / 'jets.parquet'}` -> graph splits {counts} (max_nodes {dataset['max_nodes']}, "
             f"{dataset.get('truncation', {}).get('jets_truncated', 'n/a')} jets truncated).", "",
             "Commands:", "", "```", commands.strip(), "```", "",
             "## Reconstruction through the latent: median EMD [GeV] on the test split (q16-q84 in the reports)", "",
             "| latent | numbers/jet | training | GVAE all | latent-only PCA all | GVAE / PCA | PCA given true mask all "
             "| other jet all | GVAE track / ecal / hcal | latent-only PCA track / ecal / hcal |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    reports = {}
    for L in latents:
        rep = _load(out / f"eval_ld{L}" / "report.json")
        train = _load(out / f"run_ld{L}" / "summary.json")
        reports[L] = rep
        e = rep["emd"]
        g, p = e["gvae"]["all"]["median"], e["latent_pca"]["all"]["median"]
        ch = ("track", "ecal", "hcal")
        lines.append(f"| 50 x {L} | {rep['checkpoint']['latent']['size']} | {train['epochs_done']} epochs, "
                     f"{train['seconds']:.0f} s | {_f(g)} | {_f(p)} | {_f(g / p if p else None)} | "
                     f"{_f(e['true_mask_pca']['all']['median'])} | {_f(e['other_jet']['all']['median'])} | "
                     + " / ".join(_f(e['gvae'][c]['median']) for c in ch) + " | "
                     + " / ".join(_f(e['latent_pca'][c]['median']) for c in ch) + " |")
    lines += ["", "## Generation from the prior vs held-out jets: each figure as a multiple of its truth floor", "",
              "Floor: the same figure between two disjoint halves of the held-out jets of that type (same size). "
              "W1 column: how many of the W1 distances lie within 2x their floor; median W1 multiple over all of them.",
              "", "| latent | type | jets/sample | sample | FPD (x floor) | KPD (x floor) | AUC (floor) | W1 within 2x "
              "| median W1 multiple |", "|---|---|---|---|---|---|---|---|---|"]
    for L, rep in reports.items():
        gen = rep.get("generation") or {}
        for t, entry in gen.get("types", {}).items():
            for name, s in entry["samples"].items():
                mult = sorted(m["multiple"] for m in s["w1"].values() if m["multiple"] is not None)
                med = mult[len(mult) // 2] if mult else None
                lines.append(f"| 50 x {L} | {t} | {entry['n_jets']} | {name} | {_f(s['fpd']['value'])} "
                             f"({_x(s['fpd']['multiple'])}) | {_f(s['kpd']['value'])} ({_x(s['kpd']['multiple'])}) | "
                             f"{_f(s['auc']['value'])} ({_f(s['auc']['floor'])}) | {s['w1_within_2x_floor']}/"
                             f"{s['w1_count']} | {_x(med)} |")
        if not gen:
            lines.append(f"| 50 x {L} | - | - | - | generation not evaluated (see the report's notes) | | | | |")
    for L, rep in reports.items():
        text = (out / f"eval_ld{L}" / "report.md").read_text()
        lines += ["", f"## Full report, latent 50 x {L}", "", text.replace("\n# ", "\n### ").replace("\n## ", "\n### ")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", type=Path, help="the study output directory ($OUT of scripts/latent_study.sh)")
    p.add_argument("--latents", nargs="+", required=True, help="labels of the scan: latent dims L (50 x L), L_ot for the second (Sinkhorn) stage")
    p.add_argument("--commands", type=Path, required=True, help="file with the commands that made the study")
    p.add_argument("--md", type=Path, required=True, help="markdown file to write")
    a = p.parse_args(argv)
    a.md.write_text(tables(a.out, a.latents, a.commands.read_text()))
    print(f"study tables: {a.md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
