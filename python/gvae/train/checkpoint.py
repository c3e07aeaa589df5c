"""Training checkpoints: everything needed to continue a run bit-for-bit (CPU, fp32).

A checkpoint (``RUN/last.pt`` every epoch, ``RUN/best.pt`` on a validation improvement) is a
``torch.save``d dict with ``format`` (:data:`gvae.model.CHECKPOINT_FORMAT`), ``model``
(state dict of the unwrapped GVAE), ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (torch,
CUDA, numpy, python states), ``epoch`` (completed, 1-based), ``global_step``, ``config`` (the
whole tree as a dict), ``config_sha256``, ``normalisation`` and ``dataset`` (from
``dataset.json``), ``val_metrics``, ``best`` (``{"epoch", "val_loss"}``), ``bad_epochs``
(early stopping counter), ``history`` (per-epoch metrics rows), ``world_size``, ``gvae_version``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gvae
from gvae.model.io import CHECKPOINT_FORMAT


def capture_rng() -> dict[str, Any]:
    """Snapshot of every random state the training loop may touch."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus ``format`` and ``gvae_version``) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": CHECKPOINT_FORMAT, "gvae_version": gvae.__version__, **state}, tmp)
    os.replace(tmp, path)
    return path

