"""``python -m gvae.train``: train the GVAE on graph shards (single process, Horovod or torchrun).

Examples::

    python -m gvae.train --config configs/demo.yaml --data demo_output/graphs --out runs/demo
    python -m gvae.train --config configs/demo.yaml --data DIR --out RUN --set training.lr=1e-3
    horovodrun -np 2 -H localhost:2 python -m gvae.train --config configs/demo.yaml --data DIR --out RUN
    torchrun --nproc_per_node 2 -m gvae.train --config configs/demo.yaml --data DIR --out RUN
    python -m gvae.train --config configs/demo.yaml --data DIR --out RUN --resume   # continue

Outputs in ``--out`` (rank 0 only): ``config.yaml``, ``last.pt`` (every epoch), ``best.pt`` (best
validation loss), ``metrics.csv`` / ``metrics.json`` (one row per epoch), ``tensorboard/``,
``summary.json`` and ``train.log``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import torch

from gvae.cli import run_stage
from gvae.errors import GvaeError
from gvae.train.config import AMP_MODES, load_config
from gvae.train.distributed import BACKENDS, make_backend
from gvae.train.loop import RunOptions, Trainer, effective_lr

log = logging.getLogger("gvae.train")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (every flag documented in ``--help``)."""
    p = argparse.ArgumentParser(
        prog="python -m gvae.train", description=__doc__.split("\n\n")[0],
        epilog="Learning-rate scaling: training.lr is the rate for a global batch of "
               "training.lr_reference_batch jets; the rate used is scaled with the global batch "
               "(batch_size x number of processes), linearly by default (training.lr_scaling). "
               "Each process reads its own interleaved part of every global batch, so N processes "
               "with batch b follow the same optimisation as one process with batch N*b.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=None,
                   help="YAML configuration (sections model, data, training); default: built-in defaults")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set training.lr=1e-3 --set model.clusters=[100,50] "
                        "(repeatable; values are parsed as YAML)")
    p.add_argument("--data", default=None,
                   help="graph shard directory from `python -m gvae.data convert` (overrides data.dir)")
    p.add_argument("--out", default="runs/gvae",
                   help="run directory for checkpoints, metrics and logs (default: %(default)s)")
    p.add_argument("--amp", choices=AMP_MODES, default=None,
                   help="mixed precision autocast: off, bf16 (CPU or CUDA), fp16 (CUDA, with a "
                        "GradScaler) (overrides training.amp)")
    p.add_argument("--compile", action="store_true",
                   help="run the training forward through torch.compile (sets training.compile=true)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="data-parallel backend: auto (detect horovodrun/torchrun from the "
                        "environment), none, horovod, torch (default: %(default)s)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto = CUDA (the local rank's GPU) when available, else CPU")
    p.add_argument("--epochs", type=int, default=None, help="number of epochs (overrides training.epochs)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="jets per batch per process (overrides training.batch_size)")
    p.add_argument("--seed", type=int, default=None, help="seed (overrides training.seed)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.pt (model, optimizer, scheduler, scaler, RNG, epoch); "
                        "when OUT has no last.pt yet, starts from scratch and logs a warning saying so "
                        "(a job script may always pass --resume); an unreadable last.pt is a "
                        "ModelLoadError (exit 2)")
    p.add_argument("--stop-after-epochs", type=int, default=None, metavar="N",
                   help="end this invocation after N epochs (the schedule still follows "
                        "training.epochs); continue later with --resume (time-limited queues)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads per process (default: all cores for one process, "
                        "cores / processes-per-node when distributed on CPU). The same seed and the "
                        "same thread count give a bit-identical model, resumed or not; a different "
                        "thread count rounds some sums differently (last bits, growing over training)")
    p.add_argument("--log-every", type=int, default=10,
                   help="TensorBoard per-step scalars every N steps (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _default_threads(world_size: int) -> int | None:
    """Share the cores between the processes of a node on CPU."""
    if world_size <= 1:
        return None
    local = int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("HOROVOD_LOCAL_SIZE")
                or os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE") or world_size)
    return max(1, (os.cpu_count() or 1) // local)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    overrides = list(args.overrides)
    if args.compile:
        overrides.append("training.compile=true")
    for flag, key in ((args.amp, "training.amp"), (args.epochs, "training.epochs"),
                      (args.batch_size, "training.batch_size"), (args.seed, "training.seed"),
                      (args.data, "data.dir")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    backend = None

    def body() -> int:
        nonlocal backend
        config = load_config(args.config, overrides)
        if not config.data.dir:
            raise GvaeError("no data directory: pass --data DIR or set data.dir in the config")
        use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        backend = make_backend(args.backend, use_cuda)
        _setup_logging(args, backend.rank)
        threads = args.threads or (None if use_cuda else _default_threads(backend.world_size))
        options = RunOptions(data_dir=config.data.dir, out_dir=args.out, device=args.device,
                             resume=args.resume, stop_after_epochs=args.stop_after_epochs,
                             progress=not args.no_progress, threads=threads, log_every=args.log_every)
        trainer = Trainer(config, options, backend)
        result = trainer.fit()
        if backend.rank == 0:
            summary = {
                "epochs_done": result.epochs_done, "global_step": result.global_step,
                "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
                "stopped_early": result.stopped_early, "seconds": result.seconds,
                "world_size": backend.world_size, "backend": backend.name,
                "effective_lr": effective_lr(config, backend.world_size),
                "amp": config.training.amp, "final_val": result.final_val,
                "final_train": result.final_train, "config_sha256": config.sha256(),
                "rank_consistency": result.consistency,
            }
            Path(args.out, "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
            log.info("done: %d epochs in %.1f s, best val loss %.4f at epoch %d -> %s",
                     result.epochs_done, result.seconds, result.best_val_loss, result.best_epoch,
                     Path(args.out) / "best.pt")
        return 0

    logging.basicConfig(level=logging.INFO)  # until _setup_logging: errors before it still print
    try:
        return run_stage(log, body)
    finally:
        if backend is not None:
            backend.shutdown()


def _setup_logging(args: argparse.Namespace, rank: int) -> None:
    level = logging.DEBUG if args.verbose else logging.INFO
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if rank == 0:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(args.out) / "train.log"))
    logging.basicConfig(level=level if rank == 0 else logging.WARNING, handlers=handlers,
                        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s",
                        force=True)


if __name__ == "__main__":
    sys.exit(main())
