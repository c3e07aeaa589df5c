"""MinCut pooling (PyG ``dense_mincut_pool``) with a learned assignment head."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.nn import dense_mincut_pool




def assignments(logits: Tensor, mask: Optional[Tensor], temperature: float = 1.0) -> Tensor:
    """Soft cluster assignments: logits ``[B, N, C]`` -> ``softmax(logits / T)`` over C, zero
    rows on padding (the same as inside ``dense_mincut_pool``)."""
    s = torch.softmax(logits / temperature if temperature != 1.0 else logits, dim=-1)
    if mask is not None:
        s = s * mask.unsqueeze(-1).to(s.dtype)
    return s


def coarsen(x: Tensor, adj: Tensor, s: Tensor) -> Tuple[Tensor, Tensor]:
    """Pool with given (softmaxed, masked) assignments, exactly as ``dense_mincut_pool``.

    x ``[B, N, F]``, adj ``[B, N, N]``, s ``[B, N, C]`` ->
    ``(S^T X [B, C, F], D^-1/2 (S^T A S with zero diagonal) D^-1/2 [B, C, C])``.
    Used on the inference path, where the auxiliary losses are not needed.
    """
    st = s.transpose(1, 2)
    out = torch.matmul(st, x)
    out_adj = torch.matmul(torch.matmul(st, adj), s)
    eye = torch.eye(s.size(-1), dtype=out_adj.dtype, device=out_adj.device)
    out_adj = out_adj * (1.0 - eye)
    d = torch.sqrt(out_adj.sum(dim=-1)).unsqueeze(1) + 1e-15  # the epsilon of dense_mincut_pool
    out_adj = (out_adj / d) / d.transpose(1, 2)
    return out, out_adj


class MinCutPool(nn.Module):
    """Assignment head (Linear -> act -> Linear to C logits) followed by MinCut pooling."""

    def __init__(self, channels: int, clusters: int, activation: nn.Module,
                 temperature: float = 1.0) -> None:
        super().__init__()
        self.clusters = clusters
        self.temperature = temperature
        self.head = nn.Sequential(nn.Linear(channels, channels), activation,
                                  nn.Linear(channels, clusters))

    def forward(self, x: Tensor, adj: Tensor, mask: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Inference path. x ``[B, N, F]``, adj ``[B, N, N]`` ->
        ``(x_pooled [B, C, F], adj_pooled [B, C, C], s [B, N, C])``."""
        s = assignments(self.head(x), mask, self.temperature)
        out, out_adj = coarsen(x, adj, s)
        return out, out_adj, s

    @torch.jit.unused
    def forward_with_losses(self, x: Tensor, adj: Tensor, mask: Optional[Tensor]
                            ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Training path through ``dense_mincut_pool``: additionally returns the MinCut and
        orthogonality losses (scalars, means over the batch)."""
        logits = self.head(x)
        out, out_adj, mincut, ortho = dense_mincut_pool(x, adj, logits, mask, self.temperature)
        return out, out_adj, assignments(logits, mask, self.temperature), mincut, ortho
