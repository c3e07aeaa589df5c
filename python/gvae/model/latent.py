"""Variational latent per cluster with separate mean and log-variance heads."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn


class VariationalLatent(nn.Module):
    """Cluster embeddings ``[B, C, H]`` -> ``(mu, logvar)`` each ``[B, C, L]``.

    Mean and log-variance have their own linear heads (the public reference code shares one
    layer for both). The log-variance is clamped to ``[logvar_min, logvar_max]``.
    """

    def __init__(self, hidden: int, latent_dim: int, logvar_min: float, logvar_max: float) -> None:
        super().__init__()
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.logvar_min = logvar_min
        self.logvar_max = logvar_max

    def forward(self, h: Tensor) -> Tuple[Tensor, Tensor]:
        """h ``[B, C, H]`` -> ``(mu [B, C, L], logvar [B, C, L])``."""
        logvar = torch.clamp(self.logvar(h), self.logvar_min, self.logvar_max)
        return self.mu(h), logvar


def reparameterise(mu: Tensor, logvar: Tensor, noise: Tensor) -> Tensor:
    """``z = mu + noise * exp(logvar / 2)`` with caller-supplied noise (``0`` = latent mean).

    All ``[B, C, L]``. No random number is drawn here, so exported models hold no RNG state.
    """
    return mu + noise * torch.exp(0.5 * logvar)
