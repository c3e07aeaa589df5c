"""Feature normalisation (docs/DESIGN.md section 5): raw graph features -> model inputs and back.

Model input ``features6 [B, N, 6] = (x', y', u', is_track, is_ecal, is_hcal)`` with
``x' = (x - mean_x) / std_x``, ``y' = (y - mean_y) / std_y``, ``u' = (ln(E / GeV) - mean_u) / std_u``;
padding rows are all zero. The arithmetic runs in float64 and the result is cast to float32 (the
C++ producer does the same with the constants of the model contract). Means and (population)
standard deviations come from the real nodes of the training split and are saved in
``dataset.json`` as ``{"x": {"mean", "std"}, "y": {...}, "log_energy": {...}}``.

Functions take numpy arrays or torch tensors and return the same kind.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gvae import geometry
from gvae.errors import ConfigError, DataError

#: Normalised quantities, in the order of the model's first three input and all output features.
QUANTITIES: tuple[str, ...] = ("x", "y", "log_energy")
NODE_FEATURES: tuple[str, ...] = ("x", "y", "log_energy", "is_track", "is_ecal", "is_hcal")
OUTPUT_FEATURES: tuple[str, ...] = ("x", "y", "log_energy")


@dataclass(frozen=True)
class Normalisation:
    """Means and standard deviations of x, y (eta/phi offsets) and u = ln(E / GeV)."""

    mean_x: float
    std_x: float
    mean_y: float
    std_y: float
    mean_u: float
    std_u: float

    def __post_init__(self) -> None:
        for name in ("x", "y", "u"):
            mean, std = getattr(self, f"mean_{name}"), getattr(self, f"std_{name}")
            if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
                raise ConfigError(f"normalisation of {name}: need finite mean and std > 0, got {mean}, {std}")

    @property
    def means(self) -> tuple[float, float, float]:
        return self.mean_x, self.mean_y, self.mean_u

    @property
    def stds(self) -> tuple[float, float, float]:
        return self.std_x, self.std_y, self.std_u

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{"x": {"mean", "std"}, "y": {...}, "log_energy": {...}}`` (dataset.json and contract)."""
        return {q: {"mean": float(m), "std": float(s)} for q, m, s in zip(QUANTITIES, self.means, self.stds)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Normalisation":
        """Inverse of :meth:`to_dict`; raises :class:`ConfigError` for missing or bad entries."""
        try:
            values = [float(d[q][s]) for q in QUANTITIES for s in ("mean", "std")]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"normalisation must map {list(QUANTITIES)} to {{'mean', 'std'}}: {exc!r}") from exc
        return cls(*values)

    @classmethod
    def compute(cls, features: np.ndarray, mask: np.ndarray) -> "Normalisation":
        """From raw features ``[B, N, 4]`` and mask ``[B, N]`` (the training split)."""
        acc = NormalisationAccumulator()
        acc.add(features, mask)
        return acc.result()

    # -- apply / invert ------------------------------------------------------------------------
    def apply(self, features: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor):
        """Raw features ``[..., N, 4] = (x, y, E, channel)`` and mask ``[..., N]`` -> float32
        ``[..., N, 6] = (x', y', u', is_track, is_ecal, is_hcal)``, zeros on padding rows."""
        if isinstance(features, torch.Tensor):
            return self._apply_torch(features, torch.as_tensor(mask, device=features.device))
        features = np.asarray(features)
        mask = np.asarray(mask, dtype=bool)
        if features.shape[-1] != 4 or features.shape[:-1] != mask.shape:
            raise DataError(f"features must be [..., N, 4] with mask [..., N], got {features.shape} and {mask.shape}",
                            field="features")
        f = features.astype(np.float64)
        energy = np.where(mask, f[..., 2], 1.0)
        if (energy <= 0).any() or not np.isfinite(energy).all():
            raise DataError("real nodes must have finite energy > 0 to take ln(E)", field="energy")
        out = np.zeros(features.shape[:-1] + (6,), dtype=np.float64)
        out[..., 0] = (f[..., 0] - self.mean_x) / self.std_x
        out[..., 1] = (f[..., 1] - self.mean_y) / self.std_y
        out[..., 2] = (np.log(energy) - self.mean_u) / self.std_u
        channel = f[..., 3]
        for c in range(geometry.N_CHANNELS):
            out[..., 3 + c] = channel == c
        out[~mask] = 0.0
        return out.astype(np.float32)

    def invert(self, output: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None = None):
        """Model output ``[..., N, 3] = (x', y', u')`` -> physical ``[..., N, 3] = (x, y, E / GeV)``
        (float32, computed in float64). With a mask, padding rows are zero."""
        if isinstance(output, torch.Tensor):
            o = output.to(torch.float64)
            out = torch.stack([o[..., 0] * self.std_x + self.mean_x, o[..., 1] * self.std_y + self.mean_y,
                               torch.exp(o[..., 2] * self.std_u + self.mean_u)], dim=-1)
            if mask is not None:
                out = out * torch.as_tensor(mask, device=out.device).to(torch.bool).unsqueeze(-1)
            return out.to(torch.float32)
        o = np.asarray(output, dtype=np.float64)
        if o.shape[-1] != 3:
            raise DataError(f"model output must be [..., N, 3], got {o.shape}", field="reconstruction")
        out = np.empty_like(o)
        out[..., 0] = o[..., 0] * self.std_x + self.mean_x
        out[..., 1] = o[..., 1] * self.std_y + self.mean_y
        out[..., 2] = np.exp(o[..., 2] * self.std_u + self.mean_u)
        if mask is not None:
            out[~np.asarray(mask, dtype=bool)] = 0.0
        return out.astype(np.float32)

    def _apply_torch(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if features.shape[-1] != 4 or features.shape[:-1] != mask.shape:
            raise DataError(f"features must be [..., N, 4] with mask [..., N], got {tuple(features.shape)} "
                            f"and {tuple(mask.shape)}", field="features")
        mask = mask.to(torch.bool)
        f = features.to(torch.float64)
        energy = torch.where(mask, f[..., 2], torch.ones_like(f[..., 2]))
        if bool((energy <= 0).any()) or not bool(torch.isfinite(energy).all()):
            raise DataError("real nodes must have finite energy > 0 to take ln(E)", field="energy")
        channel = f[..., 3]
        out = torch.stack([(f[..., 0] - self.mean_x) / self.std_x, (f[..., 1] - self.mean_y) / self.std_y,
                           (torch.log(energy) - self.mean_u) / self.std_u]
                          + [(channel == c).to(torch.float64) for c in range(geometry.N_CHANNELS)], dim=-1)
        return (out * mask.unsqueeze(-1)).to(torch.float32)

    def normalise_targets(self, features: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor):
        """The first three columns of :meth:`apply`: the reconstruction target ``[..., N, 3]``."""
        return self.apply(features, mask)[..., :3]


class NormalisationAccumulator:
    """Streaming sums of x, y, u over real nodes (float64), added chunk by chunk in a fixed order."""

    def __init__(self) -> None:
        self.count = 0
        self.sums = np.zeros(3, dtype=np.float64)
        self.squares = np.zeros(3, dtype=np.float64)

    def add(self, features: np.ndarray, mask: np.ndarray) -> None:
        """Add raw features ``[B, N, 4]`` with mask ``[B, N]``."""
        mask = np.asarray(mask, dtype=bool)
        nodes = np.asarray(features)[mask].astype(np.float64)
        if len(nodes) == 0:
            return
        if (nodes[:, 2] <= 0).any():
            raise DataError("real nodes must have energy > 0", field="energy")
        values = np.stack([nodes[:, 0], nodes[:, 1], np.log(nodes[:, 2])], axis=1)
        self.count += len(values)
        self.sums += values.sum(axis=0)
        self.squares += (values * values).sum(axis=0)

    def result(self) -> Normalisation:
        """Means and population standard deviations; :class:`DataError` without nodes."""
        if self.count == 0:
            raise DataError("cannot compute a normalisation from zero nodes (empty training split?)")
        mean = self.sums / self.count
        var = np.maximum(self.squares / self.count - mean * mean, 0.0)
        std = np.sqrt(var)
        return Normalisation(mean[0], std[0], mean[1], std[1], mean[2], std[2])
