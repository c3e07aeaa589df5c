"""Fit the conditional prior (:mod:`gvae.model.prior`) of a trained latent-decoder GVAE and store it
in its checkpoint (key ``prior``, read back by :func:`gvae.model.load_model`)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from gvae.model.gvae import GVAE
from gvae.model.prior import ConditionalPrior
from gvae.graphs.normalisation import Normalisation
from gvae.graphs.shards import GraphShards, collate, model_inputs
from gvae.model.io import read_checkpoint
from gvae.train.checkpoint import save_checkpoint

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
    return np.concatenate(mus)[:limit], np.concatenate(labels)[:limit], np.concatenate(pts)[:limit]


def fit_prior(model: GVAE, data_dir: str | Path, norm: Normalisation, max_jets: int | None = None) -> ConditionalPrior:
    """Encode the train and val splits and fit :class:`ConditionalPrior` (val chooses each type's covariance)."""
    train = encode_split(model, GraphShards(data_dir, "train"), norm, limit=max_jets)
    val = encode_split(model, GraphShards(data_dir, "val"), norm)
    return ConditionalPrior.fit(*train, *val)


def add_prior_to_checkpoint(path: str | Path, data_dir: str | Path, max_jets: int | None = None) -> ConditionalPrior:
    """Fit the prior of the model in checkpoint ``path`` and rewrite the checkpoint with it."""
    from gvae.model.config import ModelConfig

    ckpt = read_checkpoint(path)
    model = GVAE(ModelConfig.from_dict(ckpt["config"]["model"]))
    model.load_state_dict(ckpt["model"])
    norm = Normalisation.from_dict(ckpt["normalisation"])
    prior = fit_prior(model, data_dir, norm, max_jets)
    ckpt["prior"] = prior.state()
    state = {k: v for k, v in ckpt.items() if k not in ("format", "gvae_version")}
    save_checkpoint(path, state)
    sel = ", ".join(f"{k} {v:.1f}" for k, v in prior.selection.items())
    chosen = ", ".join(f"type {k}: {c}" for k, c in prior.covariance.items())
    log.info("prior p(z | type, pT) fitted on %s jets and stored in %s: covariance %s (held-out log-likelihood "
             "per jet: %s)", sum(prior.n_train.values()), path, chosen, sel)
    return prior
