"""GraphSAGE building block: PyG ``DenseSAGEConv`` + per-node LayerNorm + activation."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn
from torch_geometric.nn import DenseSAGEConv


def make_activation(name: str) -> nn.Module:
    """``relu | gelu | elu | silu`` -> activation module."""
    return {"relu": nn.ReLU, "gelu": nn.GELU, "elu": nn.ELU, "silu": nn.SiLU}[name]()


class SAGEBlock(nn.Module):
    """``x -> act(norm(DenseSAGEConv(x, A))) (+ x)``, zero on padding nodes.

    The normalisation is a LayerNorm over the feature axis of each node; nothing mixes
    statistics across nodes or jets (no BatchNorm over the node index), so padding nodes
    and the composition of the batch cannot influence a real node.
    """

    def __init__(self, in_channels: int, out_channels: int, activation: str = "gelu",
                 layer_norm: bool = True, residual: bool = True) -> None:
        super().__init__()
        self.conv = DenseSAGEConv(in_channels, out_channels)
        self.norm = nn.LayerNorm(out_channels) if layer_norm else nn.Identity()
        self.act = make_activation(activation)
        self.residual = residual and in_channels == out_channels

    def forward(self, x: Tensor, adj: Tensor, mask: Optional[Tensor]) -> Tensor:
        """x ``[B, N, F_in]``, adj ``[B, N, N]``, mask bool ``[B, N]`` or None -> ``[B, N, F_out]``."""
        h = self.act(self.norm(self.conv(x, adj, mask)))
        if self.residual:
            h = h + x
        if mask is not None:
            h = h * mask.unsqueeze(-1).to(h.dtype)
        return h


class SAGEStack(nn.Module):
    """A sequence of :class:`SAGEBlock` on one graph level (possibly empty)."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, activation: str,
                 layer_norm: bool, residual: bool) -> None:
        super().__init__()
        widths = [in_channels] + [out_channels] * layers
        self.blocks = nn.ModuleList([
            SAGEBlock(a, b, activation, layer_norm, residual) for a, b in zip(widths, widths[1:])])

    def forward(self, x: Tensor, adj: Tensor, mask: Optional[Tensor]) -> Tensor:
        """x ``[B, N, F_in]`` -> ``[B, N, F_out]`` (unchanged when the stack is empty)."""
        for block in self.blocks:
            x = block(x, adj, mask)
        return x
