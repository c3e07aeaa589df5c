"""``python -m gvae.evaluate``: evaluate a trained GVAE checkpoint on held-out graph shards."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from gvae.cli import run_stage
from gvae.evaluate.emd import DEFAULT_R
from gvae.evaluate.observables import DEFAULT_THRESHOLD


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m gvae.evaluate",
        epilog="Environment: GVAE_MALLOC_TUNING=0 keeps glibc's default malloc settings (by default the "
               "command reuses freed activation memory instead of returning it: gvae/allocator.py).",
        description="Evaluate a trained GVAE on held-out jets. A latent-decoder checkpoint (model.decoder: latent) "
                    "is evaluated in both uses: reconstruction through the latent (EMD, responses) against the "
                    "latent-only PCA, the PCA given the true mask and channel, the random-other-jet scale and "
                    "optionally a paper-decoder checkpoint (--compare-checkpoint); and generation from its prior "
                    "p(z | type, pT) at the test jets' conditions against the Gaussian-PCA generator, every W1/FPD/"
                    "KPD/AUC beside its truth floor (two disjoint halves of the test jets). A paper-decoder "
                    "checkpoint gets: deterministic reconstruction (noise = 0, the "
                    "latent mean) of every graph of a split, the same jets reconstructed by two PCA baselines "
                    "with the GVAE's latent size (fitted on the training split): one given the true node mask and "
                    "channels, one latent-only (decoded without them, snapped to the detector), per-jet Energy Mover's "
                    "Distance in GeV per channel and for all channels (Komiske-Metodiev-Thaler, every jet "
                    "kept), jet observables (energies, calorimeter mass and pT, hit counts, radial profile) "
                    "with responses and 1-Wasserstein distances; generation figures of a Gaussian-PCA generator per jet "
                    "type against the held-out jets, each beside its truth floor (W1s, FPD, KPD, classifier AUC). Writes report.json, report.md, per_jet.csv "
                    "and PNG plots into --out.",
    )
    p.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT",
                   help="training checkpoint written by `python -m gvae.train` (best.pt or last.pt)")
    p.add_argument("--data", required=True, type=Path, metavar="DIR",
                   help="graph shard directory written by `python -m gvae.data convert` (dataset.json + splits); "
                        "its train split fits the baseline")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to evaluate (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("evaluation"), metavar="DIR",
                   help="output directory, created if missing (default: %(default)s)")
    p.add_argument("--max-jets", type=int, default=None, metavar="N",
                   help="evaluate only the first N jets of the split (default: all)")
    p.add_argument("--batch-size", type=int, default=64, metavar="B", help="jets per model forward pass (default: %(default)s)")
    p.add_argument("--emd-radius", type=float, default=DEFAULT_R, metavar="R",
                   help="EMD radius R: ground distance Delta R / R (default: %(default)s, the anti-kt jet radius)")
    p.add_argument("--hit-threshold", type=float, default=DEFAULT_THRESHOLD, metavar="GEV",
                   help="energy threshold in GeV for the hit-count observables (default: %(default)s)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), metavar="W",
                   help="processes computing EMDs, 1 = in this process (default: %(default)s = min(4, CPUs))")
    p.add_argument("--displays", type=int, default=3, metavar="D",
                   help="number of event displays: the first D evaluated jets (default: %(default)s)")
    p.add_argument("--baseline-max-train", type=int, default=None, metavar="N",
                   help="fit the PCA baseline on at most the first N training jets (default: all)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (report files only)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the generation figures: the Gaussian-PCA generator's samples, the real halves "
                        "of the truth floors, FPD/KPD bootstraps and the classifier (default: %(default)s)")
    p.add_argument("--no-generation", action="store_true",
                   help="skip the generation figures (Gaussian-PCA generator vs held-out jets with truth floors); "
                        "the latent-only PCA reconstruction baseline is always computed")
    p.add_argument("--generation-only", action="store_true",
                   help="latent-decoder checkpoint with a prior only: produce only the generation figures (GVAE "
                        "prior and Gaussian-PCA generator against the held-out jets, each beside its truth floor, "
                        "with the two reconstruction ceilings) into report.md/json and the generation plots, "
                        "identical to a full run's generation section; skips the PCA given the true mask and every "
                        "reconstruction EMD, observable, plot and per_jet.csv. The GVAE and latent-only PCA "
                        "reconstructions of the jets are still computed for the ceilings (no EMD on them). "
                        "Excludes --no-generation and --compare-checkpoint (exit 2)")
    p.add_argument("--compare-checkpoint", type=Path, default=None, metavar="CKPT",
                   help="latent-decoder --checkpoint only: also reconstruct the same test jets with this paper-decoder "
                        "checkpoint (RUN/best.pt; its decoder gets the encoder's assignments, mask and channels) and "
                        "report it as a third model, scored against the same originals (default: none)")
    p.add_argument("--compare-data", type=Path, default=None, metavar="DIR",
                   help="graph directory for --compare-checkpoint when its max_nodes differs from --data (built from "
                        "the same jet file, so the same test jets exist; matched by source row) (default: --data)")
    p.add_argument("--device", default="cpu", help="torch device for the GVAE forward pass: cpu or cuda (default: %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _print_generation(section: dict | None) -> None:
    """One line per jet type and generated sample: FPD, KPD, AUC and W1s, each with its floor."""
    for t, entry in (section or {}).get("types", {}).items():
        for name, s in entry["samples"].items():
            print(f"generation {t} {name} ({entry['n_jets']} jets): FPD {_fmt(s['fpd']['value'])} (floor "
                  f"{_fmt(s['fpd']['floor'])}, {_fmt(s['fpd']['multiple'])}x), KPD {_fmt(s['kpd']['value'])} (floor "
                  f"{_fmt(s['kpd']['floor'])}), AUC {_fmt(s['auc']['value'])} (floor {_fmt(s['auc']['floor'])}), "
                  f"W1 within 2x floor {s['w1_within_2x_floor']}/{s['w1_count']}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status of :func:`gvae.cli.run_stage` (2 for a gvae error, one line)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_stage("gvae.evaluate", lambda: _evaluate_and_print(args))


def _evaluate_and_print(args: argparse.Namespace) -> int:
    """Run the evaluation and print its headline numbers; returns 0."""
    from gvae.evaluate.run import Settings, evaluate

    settings = Settings(checkpoint=args.checkpoint, data=args.data, split=args.split, out=args.out,
                        max_jets=args.max_jets, batch_size=args.batch_size, emd_R=args.emd_radius,
                        hit_threshold=args.hit_threshold, workers=max(1, args.workers), displays=args.displays,
                        baseline_max_train=args.baseline_max_train, plots=not args.no_plots, device=args.device,
                        seed=args.seed, generation=not args.no_generation, generation_only=args.generation_only,
                        compare_checkpoint=args.compare_checkpoint, compare_data=args.compare_data)
    report = evaluate(settings)
    if report.get("mode") == "generation-only":
        _print_generation(report.get("generation"))
        print(f"report: {Path(args.out) / 'report.md'}")
        return 0
    emd = report["emd"]
    if report["checkpoint"].get("decoder") == "latent":
        size = report["checkpoint"]["latent"]["size"]
        models = report["reconstruction_baselines"]["models"]
        print(f"median EMD all channels [GeV] through {size} numbers per jet: " + "; ".join(
            f"{m['label']} {_fmt(m['emd']['all']['median'])}" for m in models.values()))
        _print_generation(report.get("generation"))
        print(f"report: {Path(args.out) / 'report.md'}")
        return 0
    print("median EMD [GeV]  " + "  ".join(
        f"{c}: GVAE {_fmt(emd['gvae'][c]['median'])} / PCA given true mask {_fmt(emd['baseline'][c]['median'])}"
        for c in emd["channels"]))
    models = report["reconstruction_baselines"]["models"]
    print("median EMD all channels [GeV]  " + "  ".join(f"{m['label']}: {_fmt(m['emd']['all']['median'])}"
                                                         for m in models.values()))
    _print_generation(report.get("generation"))
    resp = report["observables"]["energy_total"]
    print(f"total-energy response median: GVAE {_fmt(resp['gvae']['response']['median'])}, "
          f"PCA {_fmt(resp['baseline']['response']['median'])}")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


if __name__ == "__main__":
    from gvae.allocator import keep_freed_memory

    keep_freed_memory()   # reuse freed activation memory (gvae/allocator.py; GVAE_MALLOC_TUNING=0: off)
    sys.exit(main())
