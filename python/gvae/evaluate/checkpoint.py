"""A trained GVAE from a training checkpoint, ready for deterministic reconstruction.

Thin adapter over :func:`gvae.model.load_model` (the checkpoint format belongs to the training
stage): wraps the model in :class:`gvae.model.InferenceModel` (the DESIGN §7 signature) and exposes
what the evaluation needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gvae.errors import DeviceUnavailable
from gvae.model import InferenceModel
from gvae.model import load_model as _load_checkpoint
from gvae.graphs.normalisation import Normalisation


@dataclass
class LoadedModel:
    """inference: ``(features [B,N,6], neighbours [B,N,k], mask [B,N], noise [B,C,L]) -> [B,N,3]``;
    latent_shape: ``(C, L)``; normalisation: the training normalisation saved in the checkpoint
    (``None`` if it has none); config: the full training configuration (plain dict)."""

    inference: InferenceModel
    latent_shape: tuple[int, int]
    max_nodes: int
    k: int
    normalisation: Normalisation | None
    config: dict[str, Any]
    epoch: int


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a checkpoint (``best.pt``/``last.pt``); raises :class:`gvae.errors.ModelLoadError`."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device '{device}' requested but CUDA is not available")
    loaded = _load_checkpoint(path, map_location=device)
    cfg = loaded.model_config
    norm = Normalisation.from_dict(loaded.normalisation) if loaded.normalisation else None
    return LoadedModel(inference=InferenceModel(loaded.model).eval(), latent_shape=loaded.model.latent_shape,
                       max_nodes=cfg.max_nodes, k=cfg.k, normalisation=norm, config=loaded.config,
                       epoch=loaded.epoch)
