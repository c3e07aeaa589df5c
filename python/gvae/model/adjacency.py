"""Dense adjacency of the kNN graph, built inside the model from neighbour indices."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class KnnAdjacency(nn.Module):
    """Symmetrised, masked kNN adjacency.

    ``A[b, i, j] = 1`` when j is among the k neighbours of i or i among those of j, both nodes
    are real and ``i != j``; with ``self_loops`` the diagonal of real nodes is 1 as well.
    Rows and columns of padding nodes are zero, so padding never reaches a real node.
    """

    def __init__(self, self_loops: bool = True) -> None:
        super().__init__()
        self.self_loops = self_loops

    def forward(self, neighbours: Tensor, mask: Tensor) -> Tensor:
        """neighbours int64 ``[B, N, k]``, mask bool ``[B, N]`` -> adjacency float32 ``[B, N, N]``."""
        batch, nodes = mask.size(0), mask.size(1)
        adj = torch.zeros(batch, nodes, nodes, dtype=torch.float32, device=neighbours.device)
        ones = torch.ones(neighbours.shape, dtype=torch.float32, device=neighbours.device)
        adj = adj.scatter(2, neighbours, ones)
        adj = torch.maximum(adj, adj.transpose(1, 2))
        eye = torch.eye(nodes, dtype=torch.float32, device=neighbours.device)
        adj = adj * (1.0 - eye)
        if self.self_loops:
            adj = adj + eye
        m = mask.to(torch.float32)
        return adj * m.unsqueeze(2) * m.unsqueeze(1)
