"""The small committed reference model (``python -m gvae.export --reference``): generated, converted,
trained and exported through the documented stage commands."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gvae.errors import GvaeError

log = logging.getLogger(__name__)

REFERENCE_NAME = "gvae_reference"


def _step(command: list[str]) -> None:
    """Run one stage CLI (``python -m ...``) and fail with its output if it fails."""
    import subprocess

    log.info("reference: %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise GvaeError(f"reference build step failed (exit {done.returncode}): "
                        f"{' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def build_reference(args: argparse.Namespace, work: Path) -> Path:
    """Generate jets, convert them to graphs and train briefly with ``args.config`` in ``work``;
    write ``heldout.gvh`` (jets from another seed) to ``args.out``; return the checkpoint.

    Each stage runs through its own command line (the same commands as the demo), so the
    reference model is exactly what a user gets from the documented pipeline, only smaller.
    """
    py = sys.executable
    _step([py, "-m", "gvae.data", "generate", "--process", "mixed", "--jets", str(args.jets),
           "--seed", str(args.seed), "--out", str(work / "jets.parquet")])
    _step([py, "-m", "gvae.data", "convert", str(work / "jets.parquet"), str(work / "graphs")])
    _step([py, "-m", "gvae.train", "--config", str(args.config), "--data", str(work / "graphs"),
           "--out", str(work / "run"), "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--no-progress"])
    args.out.mkdir(parents=True, exist_ok=True)
    _step([py, "-m", "gvae.data", "generate", "--process", "mixed", "--jets",
           str(args.heldout_jets), "--seed", str(args.seed + 1000),
           "--out", str(args.out / "heldout.gvh")])
    return work / "run" / "best.pt"
