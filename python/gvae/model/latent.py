"""Variational latent per cluster with separate mean and log-variance heads."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn

from gvae.model.pca import ordered_slots


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


#: Numbers per jet of :func:`JetSummary.features`: 5 per channel (track, ECAL, HCAL).
SUMMARY_FEATURES = 15


class JetSummary(nn.Module):
    """Global per-channel summary of the input jet added to the latent mean (``model.latent_summary``).

    The GraphSAGE + MinCut encoder sees normalised log energies per node and has no easy way to
    form a channel's total energy (a sum of exponentials over hundreds of nodes); measured on the
    demo data, a ridge regression from its latent mean predicts the per-channel log energy barely
    better than a constant. This module computes, per channel, ``log(1 + n)``, the soft log-sum
    ``logsumexp(a u') / a`` (``a`` learned; with ``a = std_u`` it is the channel's log energy up to
    a constant), the soft-energy-weighted mean ``x'``, ``y'`` and rms radius, and adds
    ``MLP(summary)`` (last layer zero-initialised) to every cluster's latent mean. It is part of the
    encoder: only the latent reaches the decoder. With ``leading > 0`` the ``(x', y', u')`` of the
    ``leading`` most energetic hits of each channel join the summary (a learned projection of the
    hits that dominate the EMD, the part of the jet the latent-only PCA reconstructs best).
    """

    def __init__(self, clusters: int, latent_dim: int, hidden: int, leading: int = 0) -> None:
        super().__init__()
        self.clusters, self.latent_dim, self.leading = clusters, latent_dim, leading
        self.energy_scale = nn.Parameter(torch.tensor(1.5))
        self.mlp = nn.Sequential(nn.Linear(SUMMARY_FEATURES + 9 * leading, hidden), nn.GELU(), nn.Linear(hidden, clusters * latent_dim))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def features(self, features: Tensor, mask: Tensor) -> Tensor:
        """features ``[B, N, 6]`` (x', y', u', channel one-hot), mask ``[B, N]`` ->
        ``[B, 15 + 9 * leading]`` (the 15 channel summaries, then :meth:`leading_hits` flattened)."""
        a = self.energy_scale.abs() + 0.1
        out = []
        for c in range(3):
            m = mask & (features[:, :, 3 + c] > 0.5)
            n = m.sum(1).to(features.dtype)
            logits = (a * features[:, :, 2]).masked_fill(~m, float("-inf"))
            lse = torch.logsumexp(logits, dim=1)
            present = n > 0
            lse = torch.where(present, lse, torch.zeros_like(lse)) / a
            w = torch.softmax(logits, dim=1).nan_to_num(0.0)
            mx, my = (w * features[:, :, 0]).sum(1), (w * features[:, :, 1]).sum(1)
            r2 = (w * ((features[:, :, 0] - mx.unsqueeze(1)) ** 2 + (features[:, :, 1] - my.unsqueeze(1)) ** 2)).sum(1)
            out += [torch.log1p(n), lse, mx, my, torch.sqrt(r2 + 1e-6) * present]
        summary = torch.stack(out, dim=1)
        if self.leading == 0:
            return summary
        return torch.cat([summary, self.leading_hits(features, mask).flatten(1)], dim=1)

    def leading_hits(self, features: Tensor, mask: Tensor) -> Tensor:
        """``(x', y', u')`` of the first ``leading`` hits of each channel in the graph's order (energy
        descending, DESIGN §4.3): ``[B, 3, leading, 3]``, zeros where a channel has fewer hits
        (:func:`gvae.model.pca.ordered_slots` with ``leading`` slots per channel)."""
        k = self.leading
        slots = ordered_slots(features, mask, [k, k, k])
        return slots[..., :3].reshape(features.shape[0], 3, k, 3)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        """-> the latent-mean offset ``[B, C, L]``."""
        return self.mlp(self.features(features, mask)).view(-1, self.clusters, self.latent_dim)


def reparameterise(mu: Tensor, logvar: Tensor, noise: Tensor) -> Tensor:
    """``z = mu + noise * exp(logvar / 2)`` with caller-supplied noise (``0`` = latent mean).

    All ``[B, C, L]``. No random number is drawn here, so exported models hold no RNG state.
    """
    return mu + noise * torch.exp(0.5 * logvar)
