"""``python -m gvae.simulate``: generate jets from a trained latent-decoder GVAE's prior."""
from __future__ import annotations

import argparse
import logging
import math
import sys
from typing import Sequence

from gvae.cli import run_stage
from gvae.errors import ConfigError
from gvae.simulate import PROCESSES, Conditions, process_labels, read_conditions, simulate_to_file

log = logging.getLogger("gvae.simulate")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m gvae.simulate`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m gvae.simulate",
        epilog="Environment: GVAE_MALLOC_TUNING=0 keeps glibc's default malloc settings (by default the "
               "command reuses freed activation memory instead of returning it: gvae/allocator.py).",
        description="Fast simulation: sample latents from the checkpoint's conditional prior p(z | type, pT), decode "
                    "them with the latent-only decoder, snap the hits to the detector and write jets in the format "
                    "and schema of `python -m gvae.data generate` (read by `gvae.data inspect` and every reader).")
    p.add_argument("--checkpoint", required=True, metavar="RUN/best.pt",
                   help="training checkpoint of a model.decoder: latent GVAE (with its fitted prior)")
    p.add_argument("--process", choices=PROCESSES, default=None,
                   help="jet type: ttbar (label 1), qcd (label 0), mixed (even rows ttbar, odd rows qcd); "
                        "required unless --conditions is given")
    p.add_argument("--jets", type=int, default=None, metavar="N", help="number of jets (with --process)")
    p.add_argument("--pt-min", type=float, default=None, metavar="GEV",
                   help="draw jet pT uniformly in [--pt-min, --pt-max] (both needed; default: the training pT "
                        "distribution of each type)")
    p.add_argument("--pt-max", type=float, default=None, metavar="GEV", help="upper end of the pT range (GeV)")
    p.add_argument("--conditions", default=None, metavar="FILE",
                   help="CSV with columns type (ttbar|qcd|1|0), pt (GeV) and optional eta, phi: one jet per row "
                        "(replaces --process/--jets/--pt-min/--pt-max)")
    p.add_argument("--seed", type=int, required=True, metavar="S",
                   help="seed of the only random generator (pT draws, latent and count noise)")
    p.add_argument("--out", required=True, metavar="FILE", help="output file: .parquet, .h5, .root or .gvh")
    p.add_argument("--chunk-size", type=int, default=256, metavar="C", help="jets decoded and written per chunk "
                                                                             "(default: 256)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def run(args: argparse.Namespace) -> int:
    """Run with parsed arguments; returns the exit code."""
    pt_range = None
    if args.conditions is not None:
        if args.process is not None or args.jets is not None or args.pt_min is not None or args.pt_max is not None:
            raise ConfigError("--conditions replaces --process, --jets, --pt-min and --pt-max; give one or the other")
        conditions = read_conditions(args.conditions)
    else:
        if args.process is None or args.jets is None:
            raise ConfigError("give --process and --jets, or --conditions FILE")
        if args.jets < 1:
            raise ConfigError(f"--jets must be >= 1, got {args.jets}")
        if (args.pt_min is None) != (args.pt_max is None):
            raise ConfigError("--pt-min and --pt-max go together")
        if args.pt_min is not None:
            if not (math.isfinite(args.pt_min) and math.isfinite(args.pt_max) and 0 < args.pt_min <= args.pt_max):
                raise ConfigError(f"need 0 < --pt-min <= --pt-max, got {args.pt_min}, {args.pt_max}")
            pt_range = (args.pt_min, args.pt_max)
        conditions = Conditions(process_labels(args.process, args.jets), None)
    simulate_to_file(args.checkpoint, args.out, conditions, args.seed, args.chunk_size, pt_range,
                     progress=not args.no_progress)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input/config: :func:`gvae.cli.run_stage`)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_stage(log, lambda: run(args))


if __name__ == "__main__":
    from gvae.allocator import keep_freed_memory

    keep_freed_memory()   # reuse freed activation memory (gvae/allocator.py; GVAE_MALLOC_TUNING=0: off)
    sys.exit(main())
