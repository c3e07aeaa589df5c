"""Encoder: GraphSAGE layers on the nodes, then MinCut pooling stages down to C clusters."""
from __future__ import annotations

from typing import List, Optional, Tuple

from torch import Tensor, nn

from gvae.model.config import IN_FEATURES, ModelConfig
from gvae.model.layers import SAGEStack, make_activation
from gvae.model.pooling import MinCutPool


class PoolStage(nn.Module):
    """One encoder stage: MinCut pooling to ``clusters`` clusters, then GraphSAGE layers
    on the pooled graph."""

    def __init__(self, hidden: int, clusters: int, layers: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.pool = MinCutPool(hidden, clusters, make_activation(cfg.activation),
                               cfg.assignment_temperature)
        self.sage = SAGEStack(hidden, hidden, layers, cfg.activation, cfg.layer_norm, cfg.residual)

    def forward(self, x: Tensor, adj: Tensor, mask: Optional[Tensor]
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """x ``[B, N_p, H]``, adj ``[B, N_p, N_p]`` -> ``(x [B, C, H], adj [B, C, C], s [B, N_p, C])``."""
        x, adj, s = self.pool(x, adj, mask)
        return self.sage(x, adj, None), adj, s

    def forward_with_losses(self, x: Tensor, adj: Tensor, mask: Optional[Tensor]
                            ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """As :meth:`forward` through ``dense_mincut_pool``; also returns (mincut, ortho)."""
        x, adj, s, mincut, ortho = self.pool.forward_with_losses(x, adj, mask)
        return self.sage(x, adj, None), adj, s, mincut, ortho


class Encoder(nn.Module):
    """``features [B, N, 6]`` -> cluster embeddings ``[B, C, H]``.

    Level 0 works on the N nodes with the kNN adjacency; pooling stage p maps its level to
    ``clusters[p]`` clusters (all clusters are real: only level 0 has padding). Besides the
    embeddings it returns, per stage, the softmaxed masked assignments ``S_p [B, N_p, C_p]``
    and the pooled adjacency ``A_p [B, C_p, C_p]`` that the decoder upsamples with.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.nodes = SAGEStack(IN_FEATURES, h, cfg.encoder_layers[0], cfg.activation,
                               cfg.layer_norm, cfg.residual)
        self.stages = nn.ModuleList([PoolStage(h, c, n, cfg) for c, n in
                                     zip(cfg.clusters, cfg.encoder_layers[1:])])

    def forward(self, features: Tensor, adj: Tensor, mask: Tensor
                ) -> Tuple[Tensor, List[Tensor], List[Tensor]]:
        """features ``[B, N, 6]``, adj ``[B, N, N]``, mask ``[B, N]`` ->
        ``(h [B, C, H], [A_1 .. A_P], [S_1 .. S_P])``."""
        x = self.nodes(features, adj, mask)
        adjs: List[Tensor] = []
        ss: List[Tensor] = []
        level_mask: Optional[Tensor] = mask
        for stage in self.stages:
            x, adj, s = stage(x, adj, level_mask)
            level_mask = None
            adjs.append(adj)
            ss.append(s)
        return x, adjs, ss

    def forward_with_losses(self, features: Tensor, adj: Tensor, mask: Tensor
                            ) -> Tuple[Tensor, List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """Training path: as :meth:`forward` plus per-stage MinCut and orthogonality losses."""
        x = self.nodes(features, adj, mask)
        adjs, ss, mincuts, orthos = [], [], [], []
        level_mask: Optional[Tensor] = mask
        for stage in self.stages:
            x, adj, s, mincut, ortho = stage.forward_with_losses(x, adj, level_mask)
            level_mask = None
            adjs.append(adj)
            ss.append(s)
            mincuts.append(mincut)
            orthos.append(ortho)
        return x, adjs, ss, mincuts, orthos
