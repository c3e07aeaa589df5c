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


def _x(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def evaluation_lines(report: dict[str, Any]) -> list[str]:
    """The reconstruction and generation figures of a latent-decoder evaluation report, each with its
    reference: the baselines and the random-other-jet scale for the EMDs, the truth floor for every
    generation figure (and the Gaussian-PCA generator beside the GVAE)."""
    models = report["reconstruction_baselines"]["models"]
    size = report["checkpoint"]["latent"]["size"]
    lines = [f"evaluation: reconstruction through {size} numbers per jet, {report['data']['n_jets']} test jets, "
             "median EMD all channels [GeV] (q16-q84):"]
    for m in models.values():
        e = m["emd"]["all"]
        lines.append(f"  {m['label']}: {_fmt(e['median'])} ({_fmt(e['q16'])}-{_fmt(e['q84'])})")
    per_channel = "; ".join(f"{ch} {_fmt(models['gvae']['emd'][ch]['median'])} vs {_fmt(models['latent_pca']['emd'][ch]['median'])}"
                            for ch in ("track", "ecal", "hcal"))
    lines.append(f"  per channel, GVAE vs latent-only PCA: {per_channel}")
    resp = models["gvae"]["observables"]
    lines.append("  GVAE responses (median reco/original): " + ", ".join(
        f"{o} {_fmt(resp[o]['response']['median'])}" for o in ("n_hits_track", "n_hits_ecal", "n_hits_hcal",
                                                                 "energy_total", "mass_calo")))
    gen = report.get("generation")
    if not gen:
        lines.append("generation: not evaluated (" + "; ".join(n for n in report["notes"] if "eneration" in n) + ")")
        return lines
    lines.append("generation: from the prior at the test jets' (type, pT) vs held-out jets; floor = the same figure "
                 "between two disjoint halves of the test jets (x = multiple of the floor)")
    for t, entry in gen["types"].items():
        for name, s in entry["samples"].items():
            mult = sorted(m["multiple"] for m in s["w1"].values() if m["multiple"] is not None)
            lines.append(
                f"  {t:5s} {name:12s} ({entry['n_jets']} jets): FPD {_fmt(s['fpd']['value'])} (floor "
                f"{_fmt(s['fpd']['floor'])}, {_x(s['fpd']['multiple'])}), KPD {_fmt(s['kpd']['value'])} (floor "
                f"{_fmt(s['kpd']['floor'])}, {_x(s['kpd']['multiple'])}), AUC {_fmt(s['auc']['value'])} (floor "
                f"{_fmt(s['auc']['floor'])}), W1 within 2x floor {s['w1_within_2x_floor']}/{s['w1_count']}, "
                f"median W1 {_x(mult[len(mult) // 2] if mult else None)}; mass W1 {_x(s['w1']['mass_calo']['multiple'])}")
    lines.append(f"  evaluation step: {sum(report['timing_s'].values()):.0f} s")
    return lines


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
    for line in evaluation_lines(report):
        print(line)
    sim = out / "simulated.parquet"
    if not sim.is_file():
        sys.exit(f"demo summary: expected output missing: {sim}")
    print(f"simulation: {sim} (python -m gvae.simulate from the prior), displays in {out/'simulated_inspect'}")
    worst = max((a.get("max_abs_diff", 0.0) for a in export["artifacts"].values()), default=float("nan"))
    print(f"export    : {out/'export'}  (latent-decoder model, contract v2, entry points reconstruct + simulate + simulate_counts: "
          f"TorchScript .pt + AOTInductor .pt2, verified against eager: max |d| {worst:.2g}, "
          f"{'ok' if export.get('verify', {}).get('ok') else 'NOT VERIFIED'})")
    print(f"cmssw     : gvaeRun, {timing['streams']} streams: {timing['events']} held-out jets in "
          f"{timing['loop_seconds']:.2f} s ({timing['events_per_second']:.0f} events/s); vs Python bindings: "
          f"max |dx| {compare['max_abs_dx']:.2g}, max rel |dE| {compare['max_rel_denergy']:.2g} -> "
          f"{'AGREE' if compare['ok'] else 'DIFFER'}")
    sim_compare, sim_timing = out / "cmssw" / "compare_sim.json", out / "cmssw" / "timing_sim.json"
    if sim_compare.is_file() and sim_timing.is_file():  # run_demo.sh skips simulation (with its reason) when
        c, t = _load(sim_compare), _load(sim_timing)   # libgvae or the model cannot simulate
        print(f"cmssw sim : gvaeRun fast simulation (GvaeFastSimProducer), {t['streams']} streams: {t['events']} "
              f"generator jets in {t['loop_seconds']:.2f} s ({t['events_per_second']:.0f} events/s); vs Python "
              f"bindings' Simulator: {c['identical_jets']}/{c['jets']} jets bit-identical -> "
              f"{'AGREE' if c['ok'] else 'DIFFER'}")
    else:
        print(f"cmssw sim : not run (see {out/'cmssw'/'gvaeRun.log'} and the demo log for the reason)")
    print("plots     :")
    for png in sorted((out / "inspect").glob("*.png"))[:3] + sorted((out / "eval").glob("*.png"))[:6]:
        print(f"  {png}")
    print(f"reports   : {out/'eval'/'report.md'}, {out/'eval'/'report.json'}, {out/'cmssw'/'gvaeRun.log'}")
    if args.seconds is not None:
        print(f"demo took {args.seconds:.0f} s")
    return 0 if compare.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
