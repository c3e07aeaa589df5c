"""A trained GVAE for the evaluation: the one checkpoint reader (:func:`gvae.model.load_model`) on a
checked device. ``LoadedModel.inference`` is the DESIGN §7 signature; ``latent_shape``, ``max_nodes``,
``k``, ``normalisation`` (dict), ``config`` and ``epoch`` travel with it."""
from __future__ import annotations

from pathlib import Path

import torch

from gvae.errors import DeviceUnavailable
from gvae.model import LoadedModel
from gvae.model import load_model as _load_checkpoint

__all__ = ["LoadedModel", "load_model"]


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a checkpoint (``best.pt``/``last.pt``) onto ``device``; raises
    :class:`gvae.errors.ModelLoadError` or :class:`gvae.errors.DeviceUnavailable`."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device '{device}' requested but CUDA is not available")
    return _load_checkpoint(path, map_location=device)
