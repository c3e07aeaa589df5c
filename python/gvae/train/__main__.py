"""``python -m gvae.train``: train the GVAE on graph shards (single process, Horovod or torchrun).

Examples::

    python -m gvae.train --config configs/demo.yaml --data demo_output/graphs --out runs/demo
    python -m gvae.train --config configs/demo.yaml --data DIR --out RUN --set training.lr=1e-3
    horovodrun -np 2 -H localhost:2 python -m gvae.train --config configs/demo.yaml --data DIR --out RUN
    torchrun --nproc_per_node 2 -m gvae.train --config configs/demo.yaml --data DIR --out RUN
    python -m gvae.train --config configs/demo.yaml --data DIR --out RUN --resume   # continue
    python -m gvae.train --config configs/demo.yaml --data DIR --out RUN --prior-criterion frechet
    python -m gvae.train --fit-prior-only --checkpoint RUN/best.pt --data DIR --prior-covariance factor_16

Outputs in ``--out`` (rank 0 only): ``config.yaml``, ``last.pt`` (every epoch), ``best.pt`` (best
validation loss, with the fitted prior p(z | type, pT) for a latent-decoder model), ``metrics.csv`` /
``metrics.json`` (one row per epoch), ``tensorboard/``, ``summary.json`` and ``train.log``.

``--fit-prior-only`` trains nothing: it refits the conditional prior of an existing latent-decoder
checkpoint on the encoder's latents of DIR's train/val splits and writes the checkpoint with it to
``--out FILE`` (default: ``CKPT``'s name with ``_prior`` appended, e.g. ``RUN/best_prior.pt``; an
existing FILE is replaced) or, with ``--in-place``, back to ``CKPT``. Prior settings not given on the
command line come from the checkpoint's training config (its ``prior`` section; the built-in defaults
for checkpoints written before it existed), so a refit without ``--prior-*`` flags reproduces the fit
at the end of training bit for bit (same data, same ``--threads``).
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
from gvae.errors import ConfigError, GvaeError
from gvae.model.prior import CRITERIA
from gvae.train.config import AMP_MODES, PRIOR_COVARIANCES, Config, PriorConfig, apply_overrides, load_config
from gvae.train.distributed import BACKENDS, make_backend
from gvae.train.loop import RunOptions, Trainer, effective_lr

log = logging.getLogger("gvae.train")

#: the "Outputs" and "--fit-prior-only" paragraphs of the module docstring (the --help epilog)
FIT_PRIOR_ONLY = "\n\n".join(__doc__.split("\n\n")[3:5]).replace("``", "")
#: default of --out when training
DEFAULT_RUN_DIR = "runs/gvae"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (every flag documented in ``--help``)."""
    p = argparse.ArgumentParser(
        prog="python -m gvae.train", description=__doc__.split("\n\n")[0],
        epilog=FIT_PRIOR_ONLY + "\n\nLearning-rate scaling: training.lr is the rate for a global batch of "
               "training.lr_reference_batch jets; the rate used is scaled with the global batch "
               "(batch_size x number of processes), linearly by default (training.lr_scaling). "
               "Each process reads its own interleaved part of every global batch, so N processes "
               "with batch b follow the same optimisation as one process with batch N*b.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=None,
                   help="YAML configuration (sections model, data, training, prior); default: built-in defaults")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set training.lr=1e-3 --set model.clusters=[100,50] "
                        "(repeatable; values are parsed as YAML)")
    p.add_argument("--data", default=None,
                   help="graph shard directory from `python -m gvae.data convert` (overrides data.dir)")
    p.add_argument("--out", default=None,
                   help="run directory for checkpoints, metrics and logs (default: runs/gvae); with "
                        "--fit-prior-only: the checkpoint FILE to write (default: CKPT with '_prior' appended "
                        "to its name; an existing FILE is replaced)")
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
    prior = p.add_argument_group(
        "conditional prior p(z | type, pT) (latent decoder; fitted on best.pt at the end of training)")
    prior.add_argument("--prior-criterion", choices=CRITERIA, default=None,
                       help="how each jet type's covariance model is chosen on the validation latents: loglik "
                            "(highest mean log-likelihood, the default) or frechet (smallest Frechet distance "
                            "of the residuals) (sets prior.criterion)")
    prior.add_argument("--prior-covariance", default=None, metavar="NAME|auto",
                       help="auto (choose by the criterion, the default) or one covariance model for every "
                            f"type: {', '.join(PRIOR_COVARIANCES)} (factor ranks must be below the latent "
                            "size and at most 1/8 of a type's training jets) (sets prior.covariance)")
    prior.add_argument("--prior-max-jets", type=int, default=None, metavar="N",
                       help="fit on the first N training jets only (default: all) (sets prior.max_jets)")
    prior.add_argument("--prior-components", default=None, metavar="auto|K",
                       help="mixture components of each type's prior: auto (the number with the highest "
                            "validation log-likelihood, the default) or K for every type (1 = one Gaussian) "
                            "(sets prior.components)")
    prior.add_argument("--fit-prior-only", action="store_true",
                       help="train nothing: refit the prior of --checkpoint on --data's train/val splits and "
                            "write the checkpoint with it to --out FILE (see below); takes "
                            "--data, --out, --in-place, --prior-*, --set prior.KEY=VALUE, --threads, -v")
    prior.add_argument("--checkpoint", type=Path, default=None, metavar="CKPT",
                       help="with --fit-prior-only: the latent-decoder checkpoint (RUN/best.pt) whose prior is "
                            "refitted; it is not modified unless --in-place")
    prior.add_argument("--in-place", action="store_true",
                       help="with --fit-prior-only: rewrite --checkpoint itself instead of writing a copy")
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
    overrides += _prior_overrides(args)
    for flag, key in ((args.amp, "training.amp"), (args.epochs, "training.epochs"),
                      (args.batch_size, "training.batch_size"), (args.seed, "training.seed"),
                      (args.data, "data.dir")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    if args.fit_prior_only:
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return run_stage(log, lambda: fit_prior_only(args))
    args.out = args.out or DEFAULT_RUN_DIR
    backend = None

    def body() -> int:
        nonlocal backend
        if args.checkpoint is not None or args.in_place:
            raise ConfigError("--checkpoint and --in-place go with --fit-prior-only (training writes OUT/best.pt)")
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


def _prior_overrides(args: argparse.Namespace) -> list[str]:
    """``prior.KEY=VALUE`` overrides of the --prior-* flags."""
    out = []
    for flag, key in ((args.prior_criterion, "criterion"), (args.prior_covariance, "covariance"),
                      (args.prior_max_jets, "max_jets"), (args.prior_components, "components")):
        if flag is not None:
            out.append(f"prior.{key}={flag}")
    return out


#: flags that only make sense when training: (attribute, flag, value meaning "not given")
_TRAINING_ONLY = (("config", "--config", None), ("amp", "--amp", None), ("compile", "--compile", False),
                  ("backend", "--backend", "auto"), ("epochs", "--epochs", None), ("batch_size", "--batch-size", None),
                  ("seed", "--seed", None), ("resume", "--resume", False),
                  ("stop_after_epochs", "--stop-after-epochs", None), ("log_every", "--log-every", 10))


def fit_prior_only(args: argparse.Namespace) -> int:
    """``--fit-prior-only``: refit the prior of ``args.checkpoint`` and write the checkpoint with it;
    returns 0. Raises :class:`ConfigError` (exit 2) for a flag that only training takes, a missing
    checkpoint or data directory, an override outside ``prior.``, or a bad prior setting."""
    from gvae.model.io import read_checkpoint
    from gvae.train.prior import add_prior_to_checkpoint

    given = [flag for attr, flag, unset in _TRAINING_ONLY if getattr(args, attr) != unset]
    if args.device == "cuda":
        given.append("--device cuda")
    if given:
        raise ConfigError(f"--fit-prior-only trains nothing and takes no {', '.join(given)} (the model comes from "
                          "--checkpoint; the fit has no randomness)")
    if args.checkpoint is None:
        raise ConfigError("--fit-prior-only needs --checkpoint CKPT (a latent-decoder RUN/best.pt)")
    others = [o for o in args.overrides if not o.split("=", 1)[0].strip().startswith("prior.")]
    if others:
        raise ConfigError(f"--fit-prior-only takes only prior.* overrides, got --set {others[0]!r}")
    if args.in_place and args.out is not None:
        raise ConfigError("--in-place rewrites --checkpoint; give either it or --out FILE, not both")
    ckpt_path = Path(args.checkpoint)
    out = ckpt_path if args.in_place else Path(args.out) if args.out else \
        ckpt_path.with_name(f"{ckpt_path.stem}_prior{ckpt_path.suffix or '.pt'}")
    if not args.in_place and out.resolve() == ckpt_path.resolve():
        raise ConfigError(f"--out '{out}' is --checkpoint itself; pass --in-place to rewrite it")
    if out.is_dir():
        raise ConfigError(f"--out '{out}' is a directory; with --fit-prior-only it names the checkpoint FILE to write")
    ckpt = read_checkpoint(ckpt_path)
    stored = ckpt.get("config", {})
    data = args.data or stored.get("data", {}).get("dir")
    if not data:
        raise ConfigError(f"no data directory: pass --data DIR (checkpoint '{ckpt_path}' has no data.dir)")
    settings = prior_settings(stored.get("prior"), args.overrides + _prior_overrides(args))
    if args.threads:
        torch.set_num_threads(args.threads)
    add_prior_to_checkpoint(ckpt_path, data, settings=settings, out=out, ckpt=ckpt)
    return 0


def prior_settings(stored: dict | None, overrides: list[str]) -> PriorConfig:
    """The prior settings of a refit: the checkpoint's training-config ``prior`` section (``stored``;
    None = the defaults) with ``prior.KEY=VALUE`` ``overrides`` applied, validated."""
    data = apply_overrides({"prior": dict(stored or {})}, overrides)
    return Config.from_dict({"prior": data["prior"]}).prior


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
