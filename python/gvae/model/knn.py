"""Sparse (kNN-list) formulation of the encoder's node level: cost follows the edges, not N^2.

The dense path (:class:`gvae.model.adjacency.KnnAdjacency` + PyG ``DenseSAGEConv`` +
``dense_mincut_pool``) builds ``A [B, N, N]`` with ``A_ij = 1`` when j is among the k neighbours
of i or i among those of j (both real, ``i != j``; duplicate indices count once), plus self loops
on real nodes. Here the same matrix is kept as the neighbour list ``[B, N, k]`` with one weight
per directed slot::

    c_ia = 0                 slot invalid: i or j = nb[i, a] padding, j == i, or j repeats
                             an earlier slot of row i (the dense scatter of ones dedups)
    c_ia = 1/2               mutual edge: i is also among the neighbours of j
    c_ia = 1                 one-way edge

so that ``W + W^T = A - diag(self loops)`` with ``W_ij = c_ia`` (``N + N^T - N o N^T`` for the
deduplicated directed kNN matrix N). Then

* ``A X = W X + W^T X + diag(self) X``: a gather over the slots (``W X``), a scatter-add of
  the same slot values to the neighbours (``W^T X``) and the self term: O(N k F).
* the first MinCut stage: ``A S`` the same way, ``S^T (A S)`` and ``S^T X`` as ``[C, N]``
  batched matmuls (O(N C^2)), degrees ``d = A 1`` from the weights, so the MinCut and
  orthogonality losses of ``dense_mincut_pool`` are computed exactly without any ``[N, N]``
  tensor. Later stages work on ``C x C`` pooled graphs and stay dense.

Parameter names and initialisation order equal the dense modules', so a state dict of one
formulation loads into the other and gives the same outputs (tests/test_knn.py).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.nn import DenseSAGEConv

from gvae.model.config import IN_FEATURES, ModelConfig
from gvae.model.layers import SAGEStack, make_activation
from gvae.model.pooling import MinCutPool, assignments
from gvae.model.encoder import PoolStage

#: (flat neighbour index [B*N*k], slot weights c [B, N, k], self-loop weights [B, N], degree [B, N])
KnnGraph = Tuple[Tensor, Tensor, Tensor, Tensor]


class NeighbourList(nn.Module):
    """The kNN formulation's stand-in for :class:`KnnAdjacency`: the graph stays the neighbour
    list ``[B, N, k]`` (returned unchanged); the encoder derives its slot weights."""

    def forward(self, neighbours: Tensor, mask: Tensor) -> Tensor:
        """neighbours int64 ``[B, N, k]``, mask bool ``[B, N]`` -> neighbours ``[B, N, k]``."""
        return neighbours


def knn_graph(neighbours: Tensor, mask: Tensor, self_loops: bool) -> KnnGraph:
    """Slot weights of the symmetrised, deduplicated, masked kNN adjacency (module docstring).

    neighbours int64 ``[B, N, k]``, mask bool ``[B, N]`` -> ``(flat [B*N*k] int64 indices into
    the flattened ``[B*N]`` nodes, c [B, N, k] f32, self [B, N] f32, degree [B, N] f32)``; the
    degree is the dense adjacency's row sum (self loop included). No gradient flows here.
    """
    b, n, k = neighbours.shape
    dev = neighbours.device
    offsets = (torch.arange(b, device=dev) * n).view(b, 1, 1)
    flat = (neighbours + offsets).reshape(-1)
    node = torch.arange(n, device=dev).view(1, n, 1)
    real_j = mask.reshape(-1).index_select(0, flat).view(b, n, k)
    same = neighbours.unsqueeze(3) == neighbours.unsqueeze(2)             # [B, N, k(a), k(b)]
    earlier = torch.ones(k, k, dtype=torch.bool, device=dev).tril(-1)     # b < a
    repeated = (same & earlier).any(-1)
    valid = real_j & mask.unsqueeze(-1) & (neighbours != node) & ~repeated
    # mutual: i among the neighbours of j = nb[i, a]
    nb_of_j = neighbours.reshape(b * n, k).index_select(0, flat).view(b, n, k, k)
    mutual = (nb_of_j == node.unsqueeze(-1)).any(-1)
    c = valid.to(torch.float32) * (1.0 - 0.5 * mutual.to(torch.float32))
    loops = mask.to(torch.float32) if self_loops else torch.zeros(b, n, device=dev)
    incoming = torch.zeros(b * n, device=dev).index_add(0, flat, c.reshape(-1)).view(b, n)
    degree = c.sum(-1) + incoming + loops
    return flat, c, loops, degree


def knn_propagate(x: Tensor, graph: KnnGraph) -> Tensor:
    """``A X`` of the symmetrised kNN adjacency: x ``[B, N, F]`` -> ``[B, N, F]`` (not normalised).

    ``W X`` gathers the neighbours' rows (weighted sum over the k slots), ``W^T X`` scatter-adds
    each node's weighted row to its neighbours, plus the self loops.
    """
    flat, c, loops, _ = graph
    b, n, f = x.shape
    k = c.shape[-1]
    cw = c.to(x.dtype)
    xf = x.reshape(b * n, f)
    gathered = xf.index_select(0, flat).view(b * n, k, f)
    out = torch.bmm(cw.view(b * n, 1, k), gathered).view(b * n, f)             # W X
    sent = (x.unsqueeze(2) * cw.unsqueeze(-1)).reshape(b * n * k, f)
    out = out.index_add(0, flat, sent).view(b, n, f)                           # + W^T X
    return out + x * loops.to(x.dtype).unsqueeze(-1)


class KnnSAGEConv(DenseSAGEConv):
    """PyG ``DenseSAGEConv`` (same parameters ``lin_rel``/``lin_root``, same initialisation) on
    the kNN list: ``lin_rel(A X / max(deg, 1)) + lin_root(X)``, zero on padding."""

    def forward(self, x: Tensor, graph: KnnGraph, mask: Optional[Tensor] = None) -> Tensor:  # type: ignore[override]
        """x ``[B, N, F_in]``, graph from :func:`knn_graph`, mask bool ``[B, N]`` -> ``[B, N, F_out]``."""
        agg = knn_propagate(x, graph) / graph[3].to(x.dtype).clamp(min=1).unsqueeze(-1)
        out = self.lin_rel(agg) + self.lin_root(x)
        if mask is not None:
            out = out * mask.unsqueeze(-1).to(x.dtype)
        return out


class KnnSAGEBlock(nn.Module):
    """:class:`gvae.model.layers.SAGEBlock` with :class:`KnnSAGEConv` (same parameter names)."""

    def __init__(self, in_channels: int, out_channels: int, activation: str = "gelu",
                 layer_norm: bool = True, residual: bool = True) -> None:
        super().__init__()
        self.conv = KnnSAGEConv(in_channels, out_channels)
        self.norm = nn.LayerNorm(out_channels) if layer_norm else nn.Identity()
        self.act = make_activation(activation)
        self.residual = residual and in_channels == out_channels

    def forward(self, x: Tensor, graph: KnnGraph, mask: Optional[Tensor]) -> Tensor:
        """x ``[B, N, F_in]`` -> ``act(norm(conv)) (+ x)`` ``[B, N, F_out]``, zero on padding."""
        h = self.act(self.norm(self.conv(x, graph, mask)))
        if self.residual:
            h = h + x
        if mask is not None:
            h = h * mask.unsqueeze(-1).to(h.dtype)
        return h


class KnnSAGEStack(nn.Module):
    """A sequence of :class:`KnnSAGEBlock` on the node level."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, activation: str,
                 layer_norm: bool, residual: bool) -> None:
        super().__init__()
        widths = [in_channels] + [out_channels] * layers
        self.blocks = nn.ModuleList([KnnSAGEBlock(a, b, activation, layer_norm, residual)
                                     for a, b in zip(widths, widths[1:])])

    def forward(self, x: Tensor, graph: KnnGraph, mask: Optional[Tensor]) -> Tensor:
        """x ``[B, N, F_in]`` -> ``[B, N, F_out]``."""
        for block in self.blocks:
            x = block(x, graph, mask)
        return x


def normalise_pooled(out_adj: Tensor) -> Tensor:
    """Zero diagonal and ``D^-1/2 A D^-1/2`` of a pooled adjacency ``[B, C, C]`` (as
    ``dense_mincut_pool``, epsilon 1e-15)."""
    eye = torch.eye(out_adj.size(-1), dtype=out_adj.dtype, device=out_adj.device)
    out_adj = out_adj * (1.0 - eye)
    d = torch.sqrt(out_adj.sum(dim=-1)).unsqueeze(1) + 1e-15
    return (out_adj / d) / d.transpose(1, 2)


def knn_mincut(x: Tensor, s: Tensor, graph: KnnGraph, with_losses: bool
               ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """MinCut pooling of the node level from the kNN list.

    x ``[B, N, F]`` (zero on padding), s ``[B, N, C]`` softmaxed masked assignments ->
    ``(S^T X [B, C, F], normalised pooled adjacency [B, C, C], mincut, ortho)``; the losses
    equal ``dense_mincut_pool``'s (means over the batch) and are zeros when not requested.
    """
    a_s = knn_propagate(s, graph)                                              # A S [B, N, C]
    st = s.transpose(1, 2)
    out = torch.bmm(st, x)
    pooled = torch.bmm(st, a_s)
    zero = torch.zeros((), dtype=s.dtype, device=s.device)
    mincut, ortho = zero, zero
    if with_losses:
        num = (s * a_s).sum(dim=(1, 2))                                        # tr(S^T A S)
        den = (graph[3].to(s.dtype) * (s * s).sum(-1)).sum(-1)                 # tr(S^T D S)
        mincut = torch.mean(-(num / den))
        ss = torch.bmm(st, s)
        c = s.size(-1)
        eye = torch.eye(c, dtype=ss.dtype, device=ss.device)
        ortho = torch.mean(torch.linalg.matrix_norm(
            ss / torch.linalg.matrix_norm(ss, keepdim=True) - eye / torch.linalg.matrix_norm(eye)))
    return out, normalise_pooled(pooled), mincut, ortho


class KnnMinCutPool(MinCutPool):
    """:class:`gvae.model.pooling.MinCutPool` (same assignment head) pooling from the kNN list."""

    def forward(self, x: Tensor, graph: KnnGraph, mask: Optional[Tensor]  # type: ignore[override]
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """x ``[B, N, F]`` -> ``(x_pooled [B, C, F], adj_pooled [B, C, C], s [B, N, C])``."""
        s = assignments(self.head(x), mask, self.temperature)
        out, out_adj, _, _ = knn_mincut(x, s, graph, False)
        return out, out_adj, s

    @torch.jit.unused
    def forward_with_losses(self, x: Tensor, graph: KnnGraph, mask: Optional[Tensor]  # type: ignore[override]
                            ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """As :meth:`forward`, also returning the MinCut and orthogonality losses."""
        s = assignments(self.head(x), mask, self.temperature)
        if mask is not None:  # as dense_mincut_pool: logits from the unmasked x, then x masked
            x = x * mask.unsqueeze(-1).to(x.dtype)
        out, out_adj, mincut, ortho = knn_mincut(x, s, graph, True)
        return out, out_adj, s, mincut, ortho


class KnnPoolStage(nn.Module):
    """First encoder stage on the kNN list: :class:`KnnMinCutPool`, then dense GraphSAGE on the
    ``C x C`` pooled graph (parameter names of :class:`gvae.model.encoder.PoolStage`)."""

    def __init__(self, hidden: int, clusters: int, layers: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.pool = KnnMinCutPool(hidden, clusters, make_activation(cfg.activation),
                                  cfg.assignment_temperature)
        self.sage = SAGEStack(hidden, hidden, layers, cfg.activation, cfg.layer_norm, cfg.residual)

    def forward(self, x: Tensor, adj: Tensor, graph: KnnGraph, mask: Optional[Tensor]
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """x ``[B, N, H]`` (``adj`` unused) -> ``(x [B, C, H], adj [B, C, C], s [B, N, C])``."""
        x, out_adj, s = self.pool(x, graph, mask)
        return self.sage(x, out_adj, None), out_adj, s

    @torch.jit.unused
    def forward_with_losses(self, x: Tensor, adj: Tensor, graph: KnnGraph, mask: Optional[Tensor]
                            ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """As :meth:`forward`, plus (mincut, ortho)."""
        x, out_adj, s, mincut, ortho = self.pool.forward_with_losses(x, graph, mask)
        return self.sage(x, out_adj, None), out_adj, s, mincut, ortho


class CoarseStage(PoolStage):
    """A later (``C x C``, dense) stage with the call signature of :class:`KnnPoolStage`."""

    def forward(self, x: Tensor, adj: Tensor, graph: KnnGraph, mask: Optional[Tensor]  # type: ignore[override]
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """x ``[B, C_p, H]``, adj ``[B, C_p, C_p]`` (graph, mask unused: no padding here)."""
        x, adj, s = self.pool(x, adj, None)
        return self.sage(x, adj, None), adj, s

    @torch.jit.unused
    def forward_with_losses(self, x: Tensor, adj: Tensor, graph: KnnGraph,  # type: ignore[override]
                            mask: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """As :meth:`forward`, plus (mincut, ortho) from ``dense_mincut_pool``."""
        x, adj, s, mincut, ortho = self.pool.forward_with_losses(x, adj, None)
        return self.sage(x, adj, None), adj, s, mincut, ortho


class KnnEncoder(nn.Module):
    """:class:`gvae.model.encoder.Encoder` on the kNN list (``model.message_passing: knn``).

    ``forward(features [B, N, 6], neighbours [B, N, k], mask [B, N])`` returns the same
    ``(h [B, C, H], [A_1 .. A_P], [S_1 .. S_P])`` as the dense encoder with the same weights,
    without any ``[N, N]`` tensor: node-level GraphSAGE and the first MinCut stage use
    :func:`knn_propagate`; the stages after it run densely on ``C x C`` graphs.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.self_loops = cfg.self_loops
        self.nodes = KnnSAGEStack(IN_FEATURES, h, cfg.encoder_layers[0], cfg.activation,
                                  cfg.layer_norm, cfg.residual)
        stages: List[nn.Module] = []
        for p, (c, n) in enumerate(zip(cfg.clusters, cfg.encoder_layers[1:])):
            stages.append(KnnPoolStage(h, c, n, cfg) if p == 0 else CoarseStage(h, c, n, cfg))
        self.stages = nn.ModuleList(stages)

    def forward(self, features: Tensor, neighbours: Tensor, mask: Tensor
                ) -> Tuple[Tensor, List[Tensor], List[Tensor]]:
        """features ``[B, N, 6]``, neighbours int64 ``[B, N, k]``, mask ``[B, N]`` ->
        ``(h [B, C, H], [A_1 .. A_P], [S_1 .. S_P])``."""
        graph = knn_graph(neighbours, mask, self.self_loops)
        x = self.nodes(features, graph, mask)
        adj = features.new_zeros(0)
        adjs: List[Tensor] = []
        ss: List[Tensor] = []
        for stage in self.stages:
            x, adj, s = stage(x, adj, graph, mask)
            adjs.append(adj)
            ss.append(s)
        return x, adjs, ss

    @torch.jit.unused
    def forward_with_losses(self, features: Tensor, neighbours: Tensor, mask: Tensor
                            ) -> Tuple[Tensor, List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """Training path: as :meth:`forward` plus per-stage MinCut and orthogonality losses."""
        graph = knn_graph(neighbours, mask, self.self_loops)
        x = self.nodes(features, graph, mask)
        adj = features.new_zeros(0)
        adjs, ss, mincuts, orthos = [], [], [], []
        for stage in self.stages:
            x, adj, s, mincut, ortho = stage.forward_with_losses(x, adj, graph, mask)
            adjs.append(adj)
            ss.append(s)
            mincuts.append(mincut)
            orthos.append(ortho)
        return x, adjs, ss, mincuts, orthos
