"""The one checkpoint reader: :func:`read_checkpoint` (the raw dict, for resuming training) and
:func:`load_model` (the rebuilt GVAE, for evaluation and export). Written by :mod:`gvae.train.checkpoint`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gvae.errors import ModelLoadError
from gvae.model.config import ModelConfig
from gvae.model.gvae import GVAE
from gvae.model.inference import InferenceModel

#: value of ``checkpoint["format"]``
CHECKPOINT_FORMAT = "gvae-checkpoint-v1"


@dataclass
class LoadedModel:
    """A GVAE rebuilt from a checkpoint (in eval mode) and what travels with it.

    Attributes:
        model: the :class:`GVAE` (eval mode, on ``map_location``).
        model_config: its :class:`ModelConfig`.
        config: the full training configuration (plain dict: model, data, training).
        normalisation: DESIGN §5 normalisation of the training data
            (``{"x": {"mean", "std"}, "y": ..., "log_energy": ...}``).
        dataset: dataset metadata from ``dataset.json`` (k, max_nodes, source, seed, ...).
        epoch: last completed epoch (1-based).
        metrics: validation metrics of that epoch.
        latent_shape, max_nodes, k, inference: derived (see the properties).
    """

    model: GVAE
    model_config: ModelConfig
    config: dict[str, Any]
    normalisation: dict[str, Any]
    dataset: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    _inference: InferenceModel | None = field(default=None, repr=False, compare=False)


    @property
    def latent_shape(self) -> tuple[int, int]:
        """``(C, L)``: latent clusters and dimension."""
        return self.model.latent_shape

    @property
    def max_nodes(self) -> int:
        """Padded graph size N the model was built for."""
        return self.model_config.max_nodes

    @property
    def k(self) -> int:
        """Neighbours per node the model was built for."""
        return self.model_config.k

    @property
    def inference(self) -> InferenceModel:
        """The model behind the DESIGN §7 signature ``(features [B,N,6], neighbours [B,N,k],
        mask [B,N], noise [B,C,L]) -> [B,N,3]`` (eval mode; built once)."""
        if self._inference is None:
            self._inference = InferenceModel(self.model).eval()
        return self._inference


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint file into its dict (every key of :mod:`gvae.train.checkpoint`).

    Raises :class:`gvae.errors.ModelLoadError` naming the file when it does not exist, cannot be
    read or is not a gvae checkpoint.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"checkpoint '{path}' does not exist") from exc
    except Exception as exc:  # torch raises many types for corrupt files
        raise ModelLoadError(f"checkpoint '{path}' cannot be read: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(f"'{path}' is not a gvae checkpoint (format "
                             f"{ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt)!r})")
    return ckpt


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Read a checkpoint (``best.pt``/``last.pt``) and rebuild the model.

    Raises :class:`gvae.errors.ModelLoadError` naming the file when it cannot be read, is not a
    gvae checkpoint or its model cannot be rebuilt.
    """
    path = Path(path)
    ckpt = read_checkpoint(path, map_location)
    try:
        model_config = ModelConfig.from_dict(ckpt["config"]["model"])
        model = GVAE(model_config)
        model.load_state_dict(ckpt["model"])
    except Exception as exc:
        raise ModelLoadError(f"checkpoint '{path}': model cannot be rebuilt: {exc}") from exc
    model.to(map_location).eval()
    return LoadedModel(model=model, model_config=model_config, config=ckpt["config"],
                       normalisation=ckpt.get("normalisation", {}),
                       dataset=ckpt.get("dataset", {}), epoch=int(ckpt.get("epoch", 0)),
                       metrics=dict(ckpt.get("val_metrics", {})))
