"""Fit the conditional prior (:mod:`gvae.model.prior`) of a trained latent-decoder GVAE and store it
in a checkpoint (key ``prior``, read back by :func:`gvae.model.load_model`).

Called at the end of ``python -m gvae.train`` on ``best.pt`` (settings: the config's ``prior`` section,
:class:`gvae.train.config.PriorConfig`) and by ``python -m gvae.train --fit-prior-only`` to refit an
existing checkpoint with other settings (:func:`refit_checkpoint`). The fit is deterministic: the
encoder's latent means (eval mode, no noise) of the train and val splits in shard order, then closed-form
fits; the same checkpoint, data, settings and thread count give a bit-identical prior.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

import gvae
from gvae.errors import ConfigError, DataError
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.shards import GraphShards, collate, model_inputs, read_metadata
from gvae.model.gvae import GVAE
from gvae.model.io import read_checkpoint
from gvae.model.prior import TYPES, ConditionalPrior
from gvae.train.checkpoint import save_checkpoint
from gvae.train.config import PriorConfig

log = logging.getLogger(__name__)


@torch.no_grad()
def encode_split(model: GVAE, shards: GraphShards, norm: Normalisation, batch_size: int = 64,
                 limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latent means ``[n, C, L]``, labels ``[n]`` and pT ``[n]`` of (the first ``limit`` jets of) a split."""
    model.eval()
    mus, labels, pts = [], [], []
    n = 0
    for batch in DataLoader(shards, batch_size=batch_size, shuffle=False, collate_fn=collate):
        features6, neighbours, mask = model_inputs(batch, norm)
        mu, _ = model.encode(features6, neighbours, mask)
        mus.append(mu.numpy())
        labels.append(torch.as_tensor(batch["y"]).numpy())
        pts.append(torch.as_tensor(batch["pt"]).numpy())
        n += len(mu)
        if limit is not None and n >= limit:
            break
    if not mus:
        raise DataError(f"split '{shards.split}' has no jets to fit the prior on", file=str(shards.out_dir))
    return np.concatenate(mus)[:limit], np.concatenate(labels)[:limit], np.concatenate(pts)[:limit]


def fit_prior(model: GVAE, data_dir: str | Path, norm: Normalisation,
              settings: PriorConfig | None = None) -> ConditionalPrior:
    """Encode the train (first ``settings.max_jets``, default all) and val splits and fit
    :class:`ConditionalPrior` with ``settings`` (criterion, forced covariance; default: ``PriorConfig()``).
    The prior's ``fit_info`` records the settings and the jets used."""
    settings = (settings or PriorConfig()).validate()
    d = int(np.prod(model.latent_shape))
    if settings.covariance.startswith("factor_") and int(settings.covariance[len("factor_"):]) >= d:
        raise ConfigError(f"prior.covariance = {settings.covariance!r}: a factor rank must be below the latent "
                          f"size {d}")
    limit = settings.max_jets
    train = encode_split(model, GraphShards(data_dir, "train"), norm, limit=limit)
    val = encode_split(model, GraphShards(data_dir, "val"), norm)
    try:
        prior = ConditionalPrior.fit(*train, *val, covariance=settings.forced_covariance, criterion=settings.criterion,
                                     components=settings.forced_components)
    except ConfigError as exc:
        if settings.forced_covariance is None:
            raise
        raise ConfigError(f"prior.covariance = {settings.covariance!r}: {exc}") from None
    prior.fit_info = {"criterion": settings.criterion, "covariance": settings.covariance, "max_jets": limit,
                      "components": settings.components or "auto",
                      "n_train": int(len(train[0])), "n_val": int(len(val[0])), "data": str(data_dir),
                      "gvae_version": gvae.__version__}
    return prior


@contextlib.contextmanager
def _denormals(flush: bool) -> Iterator[None]:
    """Flush denormals while encoding when the training did (``training.flush_denormal``), so a refit
    sees the same encoder arithmetic as the fit at the end of training."""
    on = bool(flush) and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if on:
            torch.set_flush_denormal(False)


def prior_from_checkpoint(ckpt: dict[str, Any], path: str | Path, data_dir: str | Path,
                          settings: PriorConfig | None = None) -> ConditionalPrior:
    """Fit the prior of the model in the checkpoint dict ``ckpt`` (read from ``path``) on ``data_dir``.

    Raises :class:`ConfigError` naming the file when the checkpoint's model has no latent decoder (a
    paper-decoder GVAE cannot generate: its decoder needs the input jet) or its ``max_nodes`` differs
    from the data's."""
    from gvae.model.config import ModelConfig

    model_cfg = ckpt.get("config", {}).get("model", {})
    decoder = model_cfg.get("decoder", "paper")
    if decoder != "latent":
        raise ConfigError(f"checkpoint '{path}': field 'model.decoder' is {decoder!r}; the prior p(z | type, pT) "
                          "is fitted for a latent-decoder model only (model.decoder: latent)")
    config = ModelConfig.from_dict(model_cfg)
    data_nodes = int(read_metadata(data_dir)["max_nodes"])
    if data_nodes != int(config.max_nodes):
        raise ConfigError(f"checkpoint '{path}': field 'model.max_nodes' is {config.max_nodes}, the graphs in "
                          f"'{data_dir}' have max_nodes = {data_nodes}")
    model = GVAE(config)
    model.load_state_dict(ckpt["model"])
    norm = Normalisation.from_dict(ckpt["normalisation"])
    with _denormals(ckpt.get("config", {}).get("training", {}).get("flush_denormal", False)):
        return fit_prior(model, data_dir, norm, settings=settings)


def describe(prior: ConditionalPrior) -> str:
    """One line: per type the chosen covariance candidate and how (criterion or forced), with its
    held-out log-likelihood and Frechet distance."""
    names = {v: k for k, v in TYPES.items()}
    forced = prior.fit_info.get("covariance", "auto") not in ("auto", None)
    how = "forced by prior.covariance" if forced else f"chosen by criterion {prior.criterion}"
    parts = []
    for k, name in sorted(prior.covariance.items()):
        ll, fd = prior.selection.get(f"{k}:chosen"), prior.selection.get(f"{k}:chosen:frechet")
        n_comp = prior.components(k)
        mix = f", a mixture of {n_comp} components" if n_comp > 1 else ""
        parts.append(f"{names.get(k, k)}: {name}{mix} (held-out loglik {ll:.1f} nats/jet, Frechet {fd:.3g})")
    return f"covariance {how}: " + "; ".join(parts)


def add_prior_to_checkpoint(path: str | Path, data_dir: str | Path, settings: PriorConfig | None = None,
                            out: str | Path | None = None, ckpt: dict[str, Any] | None = None) -> ConditionalPrior:
    """Fit the prior of the model in checkpoint ``path`` and write the checkpoint with it to ``out``
    (default: rewrite ``path``). ``settings``: criterion / covariance / max_jets (default: the training
    defaults). ``ckpt``: the checkpoint dict when the caller has read ``path`` already."""
    ckpt = read_checkpoint(path) if ckpt is None else ckpt
    prior = prior_from_checkpoint(ckpt, path, data_dir, settings)
    ckpt["prior"] = prior.state()
    state = {k: v for k, v in ckpt.items() if k not in ("format", "gvae_version")}
    target = Path(out) if out is not None else Path(path)
    save_checkpoint(target, state)
    log.info("prior p(z | type, pT) fitted on %d training / %d validation jets of %s and stored in %s; %s",
             prior.fit_info["n_train"], prior.fit_info["n_val"], data_dir, target, describe(prior))
    return prior


__all__ = ["add_prior_to_checkpoint", "describe", "encode_split", "fit_prior", "prior_from_checkpoint"]
