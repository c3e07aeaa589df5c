"""Sparse (kNN-list) formulation of the encoder's node level: cost follows the edges, not N^2.

The dense path (:class:`gvae.model.adjacency.KnnAdjacency` + PyG ``DenseSAGEConv`` +
``dense_mincut_pool``) builds ``A [B, N, N]`` with ``A_ij = 1`` when j is among the k neighbours
of i or i among those of j (both real, ``i != j``; duplicate indices count once), plus self loops
on real nodes. Here the same matrix is kept in compressed-row form, built once per forward from
the neighbour list ``[B, N, k]`` (:func:`knn_graph`): every valid slot ``i -> j`` gives the two
keys ``i N + j`` and ``j N + i``, invalid slots give the weight-0 key ``i N + i``; sorting the
keys of each jet (plus one diagonal key ``i N + i`` per node, weight 1 on real nodes with
``self_loops``) groups them by row, and equal neighbouring keys (a mutual edge seen from both
ends, a repeated index) keep their weight only once: exactly the dense scatter-of-ones +
``max(A, A^T)`` + self loops. Then

* ``A X`` is one ``embedding_bag`` (weighted bag sums; no ``[B, N, k, F]`` intermediate is
  materialised): O(N k F) time and O(N F) memory. Because ``A`` is
  symmetric, its backward is the same ``embedding_bag`` on the incoming gradient
  (:class:`_SymmetricBagSum`), much faster on CPU than the generic scatter backward.
* the first MinCut stage: ``A S`` the same way, ``S^T (A S)`` and ``S^T X`` as ``[C, N]``
  batched matmuls (O(N C^2)), degrees ``d = A 1``, so the MinCut and orthogonality losses of
  ``dense_mincut_pool`` are computed exactly without any ``[N, N]`` tensor. Later stages work
  on ``C x C`` pooled graphs and stay dense.

Parameter names and initialisation order equal the dense modules', so a state dict of one
formulation loads into the other and gives the same outputs (tests/test_knn.py). Per-operation
timings against the dense batched matmuls: ``benchmarks/bench_knn.py``.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DenseSAGEConv

from gvae.model.config import IN_FEATURES, ModelConfig
from gvae.model.encoder import PoolStage
from gvae.model.layers import SAGEStack, make_activation
from gvae.model.pooling import MinCutPool, assignments

#: (index [B*N*(2k+1)] int64 column of each entry in the flattened [B*N] nodes, offsets [B*N]
#: int64 start of each row's entries, weights [B*N*(2k+1)] f32 (0/1), degree [B, N] f32 = the
#: dense adjacency's row sum, self loop included)
KnnGraph = Tuple[Tensor, Tensor, Tensor, Tensor]


class NeighbourList(nn.Module):
    """The kNN formulation's stand-in for :class:`KnnAdjacency`: the graph stays the neighbour
    list ``[B, N, k]`` (returned unchanged); the encoder derives its sparse rows."""

    def forward(self, neighbours: Tensor, mask: Tensor) -> Tensor:
        """neighbours int64 ``[B, N, k]``, mask bool ``[B, N]`` -> neighbours ``[B, N, k]``."""
        return neighbours


def knn_graph(neighbours: Tensor, mask: Tensor, self_loops: bool) -> KnnGraph:
    """Compressed rows of the symmetrised, deduplicated, masked kNN adjacency (module docstring).

    neighbours int64 ``[B, N, k]``, mask bool ``[B, N]`` -> :data:`KnnGraph`. Fixed sizes
    (``(2k + 1) N`` entries per jet, weight 0 on unused ones), so it traces and exports with a
    dynamic batch axis. No gradient flows here.
    """
    b, n, k = neighbours.shape
    dev = neighbours.device
    node = torch.arange(n, device=dev).view(1, n, 1)
    real_j = torch.gather(mask, 1, neighbours.reshape(b, n * k)).view(b, n, k)
    valid = real_j & mask.unsqueeze(-1) & (neighbours != node)
    key_dtype = torch.int32 if n * n < 2 ** 31 else torch.int64
    i = node.to(key_dtype)
    j = neighbours.to(key_dtype)
    diag = i * n + i
    fwd = torch.where(valid, i * n + j, diag)
    rev = torch.where(valid, j * n + i, diag)
    per_jet = (2 * k + 1) * n
    keys = torch.sort(torch.cat([fwd, rev, diag.expand(b, n, 1)], dim=2).reshape(b, per_jet), dim=1)[0]
    row = torch.div(keys, n, rounding_mode="floor")
    col = keys - row * n
    first = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=dev), keys[:, 1:] != keys[:, :-1]], dim=1)
    jet = torch.arange(b, device=dev).view(b, 1)
    if self_loops:  # the first diagonal key of a real node carries its self loop
        loop = torch.gather(mask, 1, row.to(torch.int64))
        keep = first & ((row != col) | loop)
    else:
        keep = first & (row != col)
    weights = keep.to(torch.float32).reshape(-1)
    starts = (torch.arange(n, device=dev, dtype=key_dtype) * n).expand(b, n).contiguous()
    offsets = (torch.searchsorted(keys, starts).to(torch.int64) + jet * per_jet).reshape(-1)
    index = (col.to(torch.int64) + jet * n).reshape(-1)
    ones = torch.ones(b * n, 1, device=dev)
    degree = F.embedding_bag(index, ones, offsets, mode="sum", per_sample_weights=weights).view(b, n)
    return index, offsets, weights, degree


class _SymmetricBagSum(torch.autograd.Function):
    """``Y = A X`` for a symmetric ``A`` in bag form; the backward is ``A dY`` (same bags)."""

    @staticmethod
    def forward(ctx, x: Tensor, index: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(index, offsets, weights)
        return F.embedding_bag(index, x, offsets, mode="sum", per_sample_weights=weights)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        index, offsets, weights = ctx.saved_tensors
        gx = F.embedding_bag(index, grad.contiguous(), offsets, mode="sum",
                             per_sample_weights=weights.to(grad.dtype))
        return gx, None, None, None


@torch.jit.unused
def _bag_sum_autograd(x: Tensor, index: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:
    return _SymmetricBagSum.apply(x, index, offsets, weights)


def knn_propagate(x: Tensor, graph: KnnGraph) -> Tensor:
    """``A X`` of the symmetrised kNN adjacency: x ``[B, N, F]`` -> ``[B, N, F]`` (not normalised)."""
    index, offsets, weights, _ = graph
    b, n, f = x.shape
    x2 = x.reshape(b * n, f)
    w = weights.to(x.dtype)
    if not torch.jit.is_scripting() and torch.is_grad_enabled() and x.requires_grad:
        out = _bag_sum_autograd(x2, index, offsets, w)
    else:
        out = F.embedding_bag(index, x2, offsets, mode="sum", per_sample_weights=w)
    return out.view(b, n, f)


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
        num = pooled.diagonal(dim1=1, dim2=2).sum(-1)                          # tr(S^T A S), O(C)
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
