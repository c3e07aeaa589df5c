"""``python -m gvae.data {generate,convert,inspect,copy}``: the data stage command line."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from tqdm import tqdm

from gvae.cli import run_stage
from gvae.errors import GvaeError

log = logging.getLogger("gvae.data")


def _add_generate(sub: argparse._SubParsersAction) -> None:
    import gvae.data.generate

    p = sub.add_parser("generate", help="generate jet images with Pythia 8 + FastJet + the CMS-like detector",
                       description="Generate jets (pp 13 TeV, anti-kt R=0.8, pT > 400 GeV, |eta| < 1.4) as "
                                   "125x125 images [track pT, ECAL, HCAL] and write them to FILE.")
    gvae.data.generate.add_arguments(p)
    p.set_defaults(func=gvae.data.generate.run)


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="build kNN graphs and write training shards + dataset.json",
                       description="Read the jets of IN (any gvae.io format), build one graph per jet "
                                   "(docs/DESIGN.md section 4), split into train/val/test, compute the "
                                   "normalisation on the training split and write OUT_DIR/dataset.json and "
                                   "OUT_DIR/{train,val,test}/shard-NNNNN.pt. Truncation statistics are "
                                   "logged and saved. With --from delphes: convert a Delphes ROOT file IN into "
                                   "the jet file OUT_DIR (see the Delphes group below).")
    p.add_argument("input", metavar="IN", help="jet file: .parquet, .h5, .root or .gvh (with --from delphes: "
                                               "a Delphes ROOT file)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output directory (created if missing); with --from delphes: "
                                                     "the jet file to write (.parquet, .h5, .root or .gvh)")
    p.add_argument("--k", type=int, default=8, help="neighbours per node in the kNN graph (default: 8)")
    p.add_argument("--max-nodes", type=int, default=400,
                   help="nodes per graph; jets with more keep their highest-energy nodes and the dropped "
                        "energy fraction is recorded (default: 400)")
    p.add_argument("--split", default="0.8,0.1,0.1", metavar="TRAIN,VAL,TEST",
                   help="fractions of jets in train, val, test, assigned by a seeded permutation "
                        "(default: 0.8,0.1,0.1)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the split permutation (default: 0)")
    p.add_argument("--shard-size", type=int, default=1024, metavar="N", help="jets per shard file (default: 1024)")
    p.add_argument("--workers", type=int, default=1, metavar="W",
                   help="worker processes reading and building blocks of rows; the output is identical "
                        "for any value (default: 1)")
    p.add_argument("--builder", default="auto", choices=("auto", "python", "cpp"),
                   help="graph builder implementation; both give identical graphs. auto = the C++ "
                        "builder of gvae._core when built, else Python (default: auto)")
    p.add_argument("--block-size", type=int, default=256, metavar="B",
                   help="jets read and built per task (default: 256)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in OUT_DIR")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_delphes_arguments(p)
    p.set_defaults(func=_run_convert)


def _add_delphes_arguments(p: argparse.ArgumentParser) -> None:
    """``convert --from delphes`` and its flags (gvae.data.delphes); defaults shown are applied there."""
    from gvae.data.delphes_cli import add_arguments

    add_arguments(p)


def _run_convert(args: argparse.Namespace) -> int:
    from gvae.data.convert import convert, parse_split
    from gvae.data.delphes_cli import run_if_delphes

    if run_if_delphes(args):
        return 0
    convert(args.input, args.out_dir, k=args.k, max_nodes=args.max_nodes, split=parse_split(args.split),
            seed=args.seed, shard_size=args.shard_size, workers=args.workers, builder=args.builder,
            block_size=args.block_size, overwrite=args.overwrite, progress=not args.no_progress)
    return 0


def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="per-channel hit/energy statistics and event displays of a jet file",
                       description="Print per-channel hit counts (pixels; HCAL in towers), occupancy, soft "
                                   "hits (< 1 GeV) and energies per jet as a table. With --out, also write "
                                   "event displays (track, ECAL, HCAL and combined, log colour scale, axes in "
                                   "eta/phi offsets from the window centre), the average image of all jets "
                                   "and of top jets, occupancy maps, hit-count histograms and inspect.json. "
                                   "--compare OTHER adds a second file and the differences (with and "
                                   "without pile-up: generate the same seed with --pileup 0).")
    p.add_argument("input", metavar="FILE", help="jet file: .parquet, .h5, .root or .gvh")
    p.add_argument("--out", metavar="DIR", default=None, help="directory for the PNG plots and inspect.json "
                                                              "(default: print statistics only)")
    p.add_argument("--events", type=int, default=4, metavar="N",
                   help="event displays to draw, the first N jets read (default: 4)")
    p.add_argument("--start", type=int, default=0, help="first row to read (default: 0)")
    p.add_argument("--stop", type=int, default=None, help="row to stop before (default: end of file)")
    p.add_argument("--compare", metavar="OTHER", default=None,
                   help="a second jet file (e.g. the same seed generated with --pileup 0): print its table and "
                        "the per-channel differences of hits, soft hits, occupancy and energy; with --out also "
                        "compare_channels.png")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    from gvae.data.inspect import inspect

    if args.events < 0:
        raise GvaeError(f"--events must be >= 0, got {args.events}")
    inspect(args.input, args.out, events=args.events, start=args.start, stop=args.stop,
            progress=not args.no_progress, compare=args.compare)
    return 0


def _add_copy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("copy", help="copy jets between formats (.parquet, .h5, .root, .gvh)",
                       description="Read rows START:STOP of IN and write them to OUT; both formats come from "
                                   "the extensions. .gvh is the hits binary the C++ example reads.")
    p.add_argument("input", metavar="IN", help="source jet file")
    p.add_argument("output", metavar="OUT", help="destination file (.parquet, .h5, .root or .gvh)")
    p.add_argument("--start", type=int, default=0, help="first row to copy (default: 0)")
    p.add_argument("--stop", type=int, default=None, help="row to stop before (default: end of file)")
    p.add_argument("--chunk-size", type=int, default=256, metavar="C", help="jets per read/write chunk (default: 256)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_run_copy)


def _run_copy(args: argparse.Namespace) -> int:
    from gvae import io

    if os.path.abspath(args.input) == os.path.abspath(args.output):
        from gvae.errors import ConfigError
        raise ConfigError(f"copy: IN and OUT are the same file '{args.input}'")
    n = io.count_jets(args.input)
    stop = n if args.stop is None else min(args.stop, n)
    with tqdm(total=max(stop - args.start, 0), unit="jet", desc="copy", disable=args.no_progress) as bar:
        def chunks():
            for batch in io.iter_jets(args.input, chunk_size=args.chunk_size, start=args.start, stop=args.stop):
                yield batch
                bar.update(len(batch))
        written = io.write_jets(args.output, chunks())
    log.info("copied %d jets %s -> %s", written, args.input, args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m gvae.data`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m gvae.data",
        description="gvae data stage: generate jets, inspect them, convert them to graph shards for "
                    "training, copy them between formats.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_generate(sub)
    _add_convert(sub)
    _add_inspect(sub)
    _add_copy(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gvae.data`` and ``gvae-data``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_stage(log, lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
