"""``python -m gvae.export``: the command line (see :mod:`gvae.export` and ``--help``)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gvae.cli import EXIT_OK, run_stage
from gvae.errors import ContractError, VerificationError
from gvae.export import contract as gc
from gvae.export.formats import DEFAULT_MAX_BATCH, PORTABLE_MARCH
from gvae.export.job import ExportResult, export
from gvae.export.reference import (REFERENCE_NAME, REFERENCE_OVERRIDES, build_reference, write_checkpoint,
                                   write_expectations)
from gvae.export.source import load_source, resolve_device
from gvae.export.verify import DEFAULT_ATOL, DEFAULT_RTOL, verify

log = logging.getLogger("gvae.export")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m gvae.export`` command line."""
    p = argparse.ArgumentParser(
        prog="python -m gvae.export",
        description="Export a trained gvae checkpoint to TorchScript (.pt) and AOTInductor "
                    "(.pt2), each with the model contract embedded and as a sidecar "
                    "<file>.contract.json (schema: export/contract.schema.json).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path,
                        help="training checkpoint written by `python -m gvae.train` "
                             "(e.g. run/best.pt)")
    source.add_argument("--reference", action="store_true",
                        help="build the small committed reference model instead: generate "
                             "--jets jets (--seed), convert, train --epochs with --config, then "
                             "export both formats --portable with --verify as "
                             f"'{REFERENCE_NAME}' and write heldout.gvh next to them")
    p.add_argument("--out", type=Path, required=True,
                   help="output directory (created); files are <name>.pt, <name>.pt2 and their "
                        "<file>.contract.json sidecars")
    p.add_argument("--format", choices=["torchscript", "aoti", "all"], default="all",
                   help="which artifact(s) to write: TorchScript (scripted + frozen), "
                        "AOTInductor package, or both")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="device to export for (an AOTI package only runs on it); cuda without a "
                        "GPU fails with DeviceUnavailable")
    p.add_argument("--name", default=None,
                   help="model name: file stem and contract model.name ([A-Za-z0-9_.-]); "
                        f"default gvae, or {REFERENCE_NAME} with --reference")
    p.add_argument("--verify", action="store_true",
                   help="run the exported files on held-out test graphs against the eager model "
                        "(batch 1 and training batch + 1, noise zero and fixed) and fail with the "
                        "measured max abs/rel differences if they exceed the tolerance")
    p.add_argument("--data", type=Path, default=None,
                   help="graph shards directory for --verify (test split); default: the dataset "
                        "the checkpoint was trained on")
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL,
                   help="--verify absolute tolerance on the normalised outputs")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL,
                   help="--verify relative tolerance: pass if |d| <= atol + rtol*|eager|")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help="largest batch the AOTInductor package accepts (dynamic batch axis max)")
    p.add_argument("--portable", action="store_true",
                   help=f"AOTInductor CPU build for any x86-64 CPU with AVX2/FMA "
                        f"(-march={PORTABLE_MARCH}, 256-bit kernels) instead of -march=native; "
                        "use for packages that are committed or shipped to other machines")
    p.add_argument("--summary", type=Path, default=None,
                   help="also write a JSON summary (paths, sizes, export seconds, verify "
                        "differences) to this file")
    ref = p.add_argument_group("--reference options")
    ref.add_argument("--config", type=Path, default=Path("configs/demo.yaml"),
                     help="training config of the reference model (the default model's demo config; "
                          "its k and max_nodes also set the graph conversion)")
    ref.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a value of --config for the reference training (repeatable, as "
                          "`python -m gvae.train --set`), after the reference's own "
                          f"{' '.join(REFERENCE_OVERRIDES)} (small committed files)")
    ref.add_argument("--jets", type=int, default=400, help="jets generated for its training")
    ref.add_argument("--heldout-jets", type=int, default=16,
                     help="jets (seed + 1000) written to OUT/heldout.gvh for C++ tests/examples")
    ref.add_argument("--epochs", type=int, default=2, help="training epochs")
    ref.add_argument("--seed", type=int, default=2024, help="seed of generation and training")
    ref.add_argument("--work", type=Path, default=None,
                     help="keep the intermediate jets, graphs and run here (default: a "
                          "temporary directory, removed afterwards)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def summary(result: ExportResult) -> dict[str, Any]:
    """JSON-able summary of an export (and its verification)."""
    doc: dict[str, Any] = {"torch": torch.__version__, "artifacts": {}}
    for fmt, path in result.artifacts.items():
        entry = {"path": str(path), "bytes": path.stat().st_size,
                 "contract": str(result.sidecars[fmt]), "export_seconds": result.seconds[fmt]}
        if result.report is not None:
            max_abs, max_rel = result.report.worst(path.name)
            entry.update(max_abs_diff=max_abs, max_rel_diff=max_rel)
        doc["artifacts"][fmt] = entry
    if result.report is not None:
        doc["verify"] = {"ok": result.report.ok, "atol": result.report.atol,
                         "rtol": result.report.rtol,
                         "cases": [vars(c) for c in result.report.comparisons]}
    return doc


def run(args: argparse.Namespace) -> ExportResult:
    """Execute a parsed command line; raises :class:`GvaeError` subclasses on failure."""
    device = resolve_device(args.device)  # fail fast, before loading anything
    if args.reference:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="gvae-reference-") as tmp:
            work = args.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            checkpoint = build_reference(args, work)
            log.info("reference: data + training took %.1f s", time.perf_counter() - t0)
            ref_args = argparse.Namespace(**{**vars(args), "reference": False,
                                             "checkpoint": checkpoint, "verify": True,
                                             "portable": True, "format": "all",
                                             "data": work / "graphs",
                                             "name": args.name or REFERENCE_NAME,
                                             "summary": args.summary or args.out / "summary.json"})
            result = run(ref_args)
            write_checkpoint(checkpoint, args.out / f"{ref_args.name}.ckpt")
            if load_source(checkpoint).decoder == "latent":
                write_expectations(checkpoint, args.out)
            return result
    source = load_source(args.checkpoint, max_batch=args.max_batch)
    formats = list(gc.FORMATS) if args.format == "all" else [args.format]
    result = export(source, args.out, formats=formats, device=device.type,
                    name=args.name or "gvae",
                    max_batch=args.max_batch, portable=args.portable)
    if args.verify:
        data_dir = args.data or source.data_dir
        if data_dir is None:
            raise ContractError("--verify needs held-out graphs: pass --data (the checkpoint "
                                "does not name its dataset)")
        result.report = verify(source, result.artifacts, device, Path(data_dir),
                               atol=args.atol, rtol=args.rtol)
        for fmt, path in result.artifacts.items():
            max_abs, max_rel = result.report.worst(path.name)
            log.info("verify %s: max abs diff %.3e, max rel diff %.3e (atol %.0e, rtol %.0e)",
                     path.name, max_abs, max_rel, args.atol, args.rtol)
    if args.summary:
        args.summary.write_text(json.dumps(summary(result), indent=2) + "\n")
    if result.report is not None and not result.report.ok:
        bad = [c for c in result.report.comparisons if not c.ok]
        raise VerificationError(
            f"exported model(s) differ from the eager model beyond atol={args.atol:g}, "
            f"rtol={args.rtol:g} in {len(bad)} of {len(result.report.comparisons)} cases:\n  "
            + "\n  ".join(c.line() for c in bad))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gvae.export``; returns the exit status (:mod:`gvae.cli`: 1 when
    ``--verify`` fails, 2 for bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def body() -> int:
        run(args)
        return EXIT_OK

    return run_stage(log, body)


if __name__ == "__main__":
    sys.exit(main())
