"""Decoder: latent clusters -> upsampling with the encoder's assignments -> per-node output."""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor, nn

from gvae.model.config import OUT_FEATURES, ModelConfig
from gvae.model.layers import SAGEStack


def unpool(x: Tensor, adj: Tensor, s: Tensor) -> Tuple[Tensor, Tensor]:
    """Upsample one level with softmaxed assignments: ``X = S Xp``, ``A = S Ap S^T``.

    x ``[B, C, H]``, adj ``[B, C, C]``, s ``[B, N, C]`` (zero rows on padding) ->
    ``(X [B, N, H], A [B, N, N])``; padding rows and columns come out zero.
    """
    return torch.matmul(s, x), torch.matmul(torch.matmul(s, adj), s.transpose(1, 2))


class Decoder(nn.Module):
    """``z [B, C, L]`` -> normalised ``(x', y', u')`` for every input node ``[B, N, 3]``.

    Starting from the latent clusters and the encoder's coarsest pooled adjacency, each level
    runs GraphSAGE layers and then :func:`unpool` s with the encoder's softmaxed assignments of
    that stage (the paper's ``X_rec = S X_pooled``, ``A_rec = S A_pooled S^T``). At the node
    level the input channel one-hot is appended (``decoder_channel``: the channel is given, not
    reconstructed), GraphSAGE layers run with the node mask and a linear head gives the three
    outputs. Padding rows are zero.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h = cfg.hidden
        args = (cfg.activation, cfg.layer_norm, cfg.residual)
        self.decoder_channel = cfg.decoder_channel
        self.inp = nn.Linear(cfg.latent_dim, h)
        # clusters[0] is the coarsest level (latent clusters), one stack per pooling stage
        self.clusters = nn.ModuleList([SAGEStack(h, h, n, *args) for n in cfg.decoder_layers[:-1]])
        node_in = h + 3 if cfg.decoder_channel else h
        self.nodes = SAGEStack(node_in, h, cfg.decoder_layers[-1], *args)
        self.head = nn.Linear(h if cfg.decoder_layers[-1] > 0 else node_in, OUT_FEATURES)

    def forward(self, z: Tensor, top_adj: Tensor, ss: List[Tensor], features: Tensor,
                mask: Tensor) -> Tensor:
        """z ``[B, C, L]``, top_adj ``[B, C, C]`` (encoder's last pooled adjacency),
        ss = encoder assignments ``[S_1 [B, N, C_1], ..., S_P [B, C_{P-1}, C_P]]``,
        features ``[B, N, 6]``, mask ``[B, N]`` -> ``[B, N, 3]``."""
        x = self.inp(z)
        adj = top_adj
        n_stages = len(ss)
        for j, level in enumerate(self.clusters):
            x = level(x, adj, None)
            x, adj = unpool(x, adj, ss[n_stages - 1 - j])
        m = mask.unsqueeze(-1).to(x.dtype)
        if self.decoder_channel:
            x = torch.cat([x, features[:, :, 3:6].to(x.dtype)], dim=-1)
        x = self.nodes(x, adj, mask)
        return self.head(x) * m
