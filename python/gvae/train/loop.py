"""The training loop: epochs of data-parallel optimisation, validation, checkpoints, metrics."""
from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gvae.errors import ConfigError, GvaeError
from gvae.model import GVAE, gvae_loss
from gvae.model.gvae import check_inputs
from gvae.train.checkpoint import capture_rng, restore_rng, save_checkpoint
from gvae.model.io import read_checkpoint
from gvae.train.config import Config, save_config
from gvae.train.data import Batch, SplitLoader, make_loader, open_split
from gvae.train.distributed import SingleProcess
from gvae.train.metrics import MeanAccumulator, MetricsWriter

log = logging.getLogger(__name__)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: optimiser step used to evaluate validation losses (KL weight fully warmed up)
_FINAL_STEP = 1 << 40


class TrainingDiverged(GvaeError):
    """The training loss became NaN or infinite."""


def effective_lr(cfg: Config, world_size: int) -> float:
    """Learning rate for the global batch ``batch_size * world_size`` (see
    :class:`gvae.train.config.TrainingConfig`)."""
    t = cfg.training
    ratio = t.batch_size * world_size / t.lr_reference_batch
    return t.lr * {"linear": ratio, "sqrt": math.sqrt(ratio), "none": 1.0}[t.lr_scaling]


def lr_lambda(step: int, warmup: int, total: int, kind: str, min_ratio: float) -> float:
    """Multiplier of the base rate at optimiser step ``step``: linear warm-up over ``warmup``
    steps, then cosine decay to ``min_ratio`` at ``total`` steps (``cosine``) or flat."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def optimizer_kernel(backend: str) -> dict[str, bool]:
    """AdamW implementation: the fused kernel (one pass over all parameters; ~5x cheaper than the
    per-parameter loop on CPU for this model, ``benchmarks/results/train_speed.md``), or the
    multi-tensor ``foreach`` one under Horovod, whose optimizer wrapper re-creates the class."""
    return {"foreach": True} if backend == "horovod" else {"fused": True}


@dataclass
class RunOptions:
    """Command-line level options of one invocation (not part of the saved config)."""

    data_dir: str
    out_dir: str
    device: str = "auto"
    resume: bool = False
    stop_after_epochs: int | None = None
    progress: bool = True
    threads: int | None = None
    log_every: int = 10


@dataclass
class RunResult:
    """What :meth:`Trainer.fit` returns (rank 0 also writes it to ``summary.json``)."""

    epochs_done: int
    global_step: int
    best_epoch: int
    best_val_loss: float
    final_val: dict[str, float]
    final_train: dict[str, float]
    stopped_early: bool
    seconds: float
    consistency: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def pick_device(name: str, local_rank: int) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else ``cpu``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            from gvae.errors import DeviceUnavailable
            raise DeviceUnavailable("--device cuda: no CUDA device is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name != "cpu":
        raise ConfigError(f"--device {name!r}: must be auto, cpu or cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and python (model init and any stray randomness)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)


class Trainer:
    """Builds data, model, optimiser, scheduler, scaler for one rank and runs the epochs."""

    def __init__(self, config: Config, options: RunOptions, backend: SingleProcess | None = None) -> None:
        self.cfg = config.validate()
        self.opt = options
        self.backend = backend or SingleProcess()
        self.rank0 = self.backend.rank == 0
        self.out = Path(options.out_dir)
        self.device = pick_device(options.device, self.backend.local_rank)
        if options.threads:
            torch.set_num_threads(options.threads)
        t = self.cfg.training
        self.amp = t.amp
        if self.amp == "fp16" and self.device.type == "cpu":
            log.warning("fp16 autocast on CPU is slow and poorly supported; bf16 is the CPU choice")

        seed_everything(t.seed)
        self.train_set = open_split(options.data_dir, "train")
        self.val_set = open_split(options.data_dir, "val")
        self.metadata = self.train_set.metadata
        self._check_dataset()
        self.model = GVAE(self.cfg.model).to(self.device)
        latent = self.model.latent_shape
        if self.cfg.model.pca_init and not (options.resume and (self.out / "last.pt").exists()):
            self._fit_pca(latent)
        ws, rk, nw = self.backend.world_size, self.backend.rank, self.cfg.data.num_workers
        self.train_loader: SplitLoader = make_loader(
            self.train_set, t.batch_size, rk, ws, True, t.seed, latent, nw, self.cfg.data.max_train_jets,
            self.cfg.data.bucket_batches)
        self.val_loader: SplitLoader = make_loader(
            self.val_set, t.batch_size, rk, ws, False, t.seed, latent, nw, self.cfg.data.max_val_jets)
        if len(self.val_loader.loader.dataset) == 0:
            raise ConfigError(f"{options.data_dir}: the val split is empty (needed for validation)")
        self.std_u = float(self.train_set.normalisation.std_u)

        self.lr = effective_lr(self.cfg, ws)
        self.wrapped = self.backend.wrap_model(self.model, self.device)
        if t.compile:
            # dynamic shapes from the start: every batch is trimmed to its largest jet and the latent
            # decoder's slot count follows the batch's hit counts, so static shapes would recompile
            self.wrapped = torch.compile(self.wrapped, backend=t.compile_backend, dynamic=True)
        base = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=t.weight_decay,
                                 **optimizer_kernel(self.backend.name))
        self.optimizer = self.backend.wrap_optimizer(base, self.model)
        self.total_steps = t.epochs * len(self.train_loader)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_lambda(s, t.warmup_steps, self.total_steps, t.scheduler,
                                                t.min_lr_ratio))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")

        self.epoch, self.global_step = 0, 0
        self.best = {"epoch": 0, "val_loss": math.inf}
        self.bad_epochs = 0
        history: list[dict[str, Any]] = []
        if options.resume:
            history = self._resume()
        self.backend.broadcast_state(self.model, self.optimizer)
        self.metrics = MetricsWriter(self.out, self.rank0, history,
                                     purge_step=self.global_step if options.resume else None)

    # ----------------------------------------------------------------------------------------
    def _check_dataset(self) -> None:
        m = self.cfg.model
        for key in ("k", "max_nodes"):
            if int(self.metadata[key]) != getattr(m, key):
                raise ConfigError(f"model.{key} = {getattr(m, key)} but the dataset "
                                  f"'{self.opt.data_dir}' was built with {key} = {self.metadata[key]}")

    def _fit_pca(self, latent: tuple[int, int]) -> None:
        """``model.pca_init``: fit the PCA path on every training jet (each rank the same jets, in order,
        so every rank computes the same PCA) before the first step (:func:`gvae.model.pca.fit_pca_paths`)."""
        from gvae.model.pca import fit_pca_paths

        t = self.cfg.training
        loader = make_loader(self.train_set, t.batch_size, 0, 1, False, t.seed, latent, 0,
                             self.cfg.data.max_train_jets)
        fit_pca_paths(self.model, ((b.features, b.mask) for b in loader.epoch(0)))
        self.model.to(self.device)

    def _resume(self) -> list[dict[str, Any]]:
        path = self.out / "last.pt"
        if not path.exists():
            log.warning("--resume: no %s yet, starting from scratch", path)
            return []
        ckpt = read_checkpoint(path)
        if ckpt["config_sha256"] != self.cfg.sha256():
            changed = _diff(ckpt["config"], self.cfg.to_dict())
            log.warning("--resume: the configuration differs from the checkpoint's: %s", changed)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        restore_rng(ckpt["rng"])
        self.epoch, self.global_step = int(ckpt["epoch"]), int(ckpt["global_step"])
        self.best, self.bad_epochs = dict(ckpt["best"]), int(ckpt["bad_epochs"])
        if self.rank0:
            log.info("resumed from %s: epoch %d, step %d", path, self.epoch, self.global_step)
        return list(ckpt.get("history", []))

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.amp])

    def _compile_context(self) -> contextlib.AbstractContextManager:
        """Under ``training.compile``: trace ``.item()`` sizes (the batch's trimmed node count, the
        decoder's slot widths) as symbolic sizes instead of breaking the graph there (one graph for
        the whole forward, no recompilation per batch shape; ``benchmarks/explain_breaks.py``)."""
        if not self.cfg.training.compile:
            return contextlib.nullcontext()
        return torch._dynamo.config.patch(capture_scalar_outputs=True)

    # ----------------------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One optimiser step on this rank's part of the global batch; returns logged terms."""
        compiled = self.cfg.training.compile
        if compiled:  # validate here, eagerly: data-dependent checks would break the compiled graph
            check_inputs(batch.features, batch.neighbours, batch.mask, self.cfg.model,
                         nodes=batch.features.shape[1])
        with self._autocast(), self._compile_context():
            out = self.wrapped(batch.features, batch.neighbours, batch.mask, batch.noise, not compiled)
            loss, terms = gvae_loss(out, batch.features, batch.mask, self.cfg.training.loss,
                                    self.std_u, self.global_step, self.train_set.normalisation)
        self.optimizer.zero_grad()  # set_to_none by default (Horovod takes no argument)
        self.scaler.scale(loss).backward()
        skip_sync = self.backend.synchronize_gradients(self.optimizer)
        if self.cfg.training.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            terms["grad_norm"] = torch.nn.utils.clip_grad_norm_(
                self.model.parameters(), self.cfg.training.grad_clip, foreach=True).detach()
        sync = self.optimizer.skip_synchronize() if skip_sync else contextlib.nullcontext()
        with sync:
            self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.global_step += 1
        return terms

    def train_epoch(self) -> dict[str, float]:
        """Run one epoch; returns the allreduced mean terms plus timing."""
        self.wrapped.train()
        acc = MeanAccumulator()
        loader = self.train_loader.epoch(self.epoch + 1)
        bar = tqdm(total=len(self.train_loader), desc=f"epoch {self.epoch + 1}/{self.cfg.training.epochs}",
                   disable=not (self.rank0 and self.opt.progress), leave=False, unit="batch")
        wait = 0.0
        t0 = time.perf_counter()
        t_ready = t0
        it = iter(loader)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - t_ready
            batch = batch.to(self.device)
            terms = self.train_step(batch)
            acc.add(terms, len(batch))
            if self.rank0 and self.global_step % self.opt.log_every == 0:
                self.metrics.step({"loss": float(terms["loss"]),
                                   "lr": self.scheduler.get_last_lr()[0]}, self.global_step)
            bar.update(1)
            bar.set_postfix(loss=f"{float(terms['loss']):.4f}")
            t_ready = time.perf_counter()
        bar.close()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        result = acc.result(self.backend.allreduce_sum)
        result["seconds"] = seconds
        result["data_wait_share"] = wait / seconds if seconds > 0 else 0.0
        result["graphs_per_s"] = acc.count * self.backend.world_size / seconds if seconds > 0 else 0.0
        return result

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss terms over the whole val split (deterministic: latent mean, noise = 0)."""
        self.model.eval()
        acc = MeanAccumulator()
        for batch in self.val_loader.epoch(0):
            batch = batch.to(self.device)
            with self._autocast():
                out = self.model(batch.features, batch.neighbours, batch.mask, batch.noise)
                _, terms = gvae_loss(out, batch.features, batch.mask, self.cfg.training.loss,
                                     self.std_u, _FINAL_STEP, self.train_set.normalisation)
            acc.add(terms, len(batch))
        return acc.result(self.backend.allreduce_sum)

    @torch.no_grad()
    def rank_consistency(self) -> dict[str, Any]:
        """Check that every rank holds the same parameters (all ranks must call it).

        Returns ``param_checksums`` (one float64 checksum per rank, gathered by allreduce) and
        ``param_divergence`` = sqrt(sum over ranks of ||p_rank - mean_p||^2) (0 when identical).
        """
        flat = torch.cat([p.detach().double().flatten().cpu() for p in self.model.parameters()])
        weights = torch.arange(1, flat.numel() + 1, dtype=torch.float64).remainder_(97).add_(1)
        sums = torch.zeros(self.backend.world_size, dtype=torch.float64)
        sums[self.backend.rank] = (flat * weights).sum()
        checksums = self.backend.allreduce_sum(sums)
        mean = self.backend.allreduce_sum(flat) / self.backend.world_size
        dev = self.backend.allreduce_sum(((flat - mean) ** 2).sum().reshape(1))
        return {"param_checksums": [float(c) for c in checksums],
                "param_divergence": float(dev.sqrt())}

    # ----------------------------------------------------------------------------------------
    def _state(self, val: dict[str, float]) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "rng": capture_rng(), "epoch": self.epoch, "global_step": self.global_step,
            "config": self.cfg.to_dict(), "config_sha256": self.cfg.sha256(),
            "normalisation": self.train_set.normalisation.to_dict(),
            "dataset": {k: v for k, v in self.metadata.items() if k != "splits"}
                       | {"dir": str(self.opt.data_dir)},
            "val_metrics": val, "best": dict(self.best), "bad_epochs": self.bad_epochs,
            "history": self.metrics.history, "world_size": self.backend.world_size,
            "effective_lr": self.lr,
        }

    def fit(self) -> RunResult:
        """Train from the current epoch to ``training.epochs`` (or early stop / stop-after)."""
        t = self.cfg.training
        flush = t.flush_denormal and torch.set_flush_denormal(True)
        if self.rank0:
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(self.cfg, self.out / "config.yaml")
            log.info("training on %s: %d train / %d val jets, %d process(es) (%s), global batch %d, "
                     "lr %.3g, amp %s", self.device, len(self.train_loader.loader.dataset),
                     len(self.val_loader.loader.dataset), self.backend.world_size, self.backend.name,
                     t.batch_size * self.backend.world_size, self.lr, self.amp)
            log.info("torch.compile %s, denormals flushed %s",
                     t.compile_backend if t.compile else "off", flush)
        try:
            return self._fit(t, flush)
        finally:
            if flush:
                torch.set_flush_denormal(False)

    def _fit(self, t: Any, flush: bool) -> RunResult:
        """The epochs of :meth:`fit` (``t`` = the training config)."""
        start = time.perf_counter()
        ran, stopped_early = 0, False
        train: dict[str, float] = {}
        val: dict[str, float] = {}
        while self.epoch < t.epochs:
            train = self.train_epoch()
            val = self.validate()
            self.epoch += 1
            ran += 1
            if not (math.isfinite(train["loss"]) and math.isfinite(val["loss"])):
                raise TrainingDiverged(f"epoch {self.epoch}: loss is not finite (train "
                                       f"{train['loss']}, val {val['loss']}); lower training.lr "
                                       "or use --amp off")
            improved = val["loss"] < self.best["val_loss"] - t.min_delta
            if improved:
                self.best = {"epoch": self.epoch, "val_loss": val["loss"]}
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            row = {"epoch": self.epoch, "lr": self.scheduler.get_last_lr()[0]}
            row |= {f"train_{k}": v for k, v in train.items()}
            row |= {f"val_{k}": v for k, v in val.items()}
            self.metrics.epoch(row)
            if self.rank0:
                state = self._state(val)
                save_checkpoint(self.out / "last.pt", state)
                if improved:
                    save_checkpoint(self.out / "best.pt", state)
                log.info("epoch %d/%d: train loss %.4f, val loss %.4f (recon %.4f, kl %.3f, "
                         "mincut %.3f, ortho %.3f, clusters %.1f) %.1f graphs/s, data wait %.1f%%%s",
                         self.epoch, t.epochs, train["loss"], val["loss"], val["recon"], val["kl"],
                         val["mincut"], val["ortho"], val.get(f"clusters_eff_{len(self.cfg.model.clusters)}", 0),
                         train["graphs_per_s"], 100 * train["data_wait_share"],
                         " *best*" if improved else "")
            if t.patience and self.bad_epochs >= t.patience:
                stopped_early = True
                if self.rank0:
                    log.info("early stopping: no improvement for %d epochs (best epoch %d)",
                             self.bad_epochs, self.best["epoch"])
                break
            if self.opt.stop_after_epochs is not None and ran >= self.opt.stop_after_epochs:
                if self.rank0:
                    log.info("stopping after %d epoch(s) of this invocation (--stop-after-epochs); "
                             "continue with --resume", ran)
                break
        if self.rank0 and self.cfg.model.decoder == "latent" and (self.out / "best.pt").exists():
            from gvae.train.prior import add_prior_to_checkpoint

            add_prior_to_checkpoint(self.out / "best.pt", self.opt.data_dir, settings=self.cfg.prior)
        consistency = self.rank_consistency()
        if self.rank0 and consistency["param_divergence"] > 0:
            log.warning("the ranks' parameters differ (divergence %.3g)", consistency["param_divergence"])
        self.backend.barrier()
        self.metrics.close()
        return RunResult(consistency=consistency, epochs_done=self.epoch, global_step=self.global_step,
                         best_epoch=int(self.best["epoch"]), best_val_loss=float(self.best["val_loss"]),
                         final_val=val, final_train=train, stopped_early=stopped_early,
                         seconds=time.perf_counter() - start, history=list(self.metrics.history))


def _diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


