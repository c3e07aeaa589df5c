"""The Graph Variational Autoencoder: kNN graph -> encoder -> latent -> decoder."""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import Tensor, nn

from gvae.errors import InvalidInput
from gvae.model.adjacency import KnnAdjacency
from gvae.model.config import IN_FEATURES, ModelConfig
from gvae.model.decoder import Decoder
from gvae.model.encoder import Encoder
from gvae.model.knn import KnnEncoder, NeighbourList
from gvae.model.latent import VariationalLatent, reparameterise


def check_inputs(features: Tensor, neighbours: Tensor, mask: Tensor, cfg: ModelConfig) -> None:
    """Validate model inputs against DESIGN §5/§7 and the config; raise :class:`InvalidInput`."""
    if features.dim() != 3 or features.shape[1:] != (cfg.max_nodes, IN_FEATURES) \
            or features.dtype != torch.float32:
        raise InvalidInput(f"expected float32 [B, {cfg.max_nodes}, {IN_FEATURES}], got "
                           f"{features.dtype} {list(features.shape)}", field="features")
    batch = features.shape[0]
    if neighbours.shape != (batch, cfg.max_nodes, cfg.k) or neighbours.dtype != torch.int64:
        raise InvalidInput(f"expected int64 [{batch}, {cfg.max_nodes}, {cfg.k}], got "
                           f"{neighbours.dtype} {list(neighbours.shape)}", field="neighbours")
    if mask.shape != (batch, cfg.max_nodes) or mask.dtype != torch.bool:
        raise InvalidInput(f"expected bool [{batch}, {cfg.max_nodes}], got {mask.dtype} "
                           f"{list(mask.shape)}", field="mask")
    if neighbours.numel() and (int(neighbours.min()) < 0 or int(neighbours.max()) >= cfg.max_nodes):
        raise InvalidInput(f"neighbour indices must lie in [0, {cfg.max_nodes})", field="neighbours")
    if not torch.isfinite(features).all():
        bad = torch.nonzero(~torch.isfinite(features).all(dim=-1).all(dim=-1))[0, 0]
        raise InvalidInput("non-finite feature value", row=int(bad), field="features")


class GVAE(nn.Module):
    """Graph VAE of DESIGN §7 (GraphSAGE + two-stage MinCut pooling + per-cluster latent).

    ``forward`` is the training/evaluation entry point and returns a dict; the exported
    inference signature lives in :class:`gvae.model.InferenceModel`, which shares these
    submodules.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config.validate()
        knn = config.message_passing == "knn"  # the encoder's graph: kNN list or dense [B, N, N]
        self.adjacency = NeighbourList() if knn else KnnAdjacency(config.self_loops)
        self.encoder = KnnEncoder(config) if knn else Encoder(config)
        self.latent = VariationalLatent(config.hidden, config.latent_dim,
                                        config.logvar_min, config.logvar_max)
        self.decoder = Decoder(config)

    @property
    def latent_shape(self) -> tuple[int, int]:
        """``(C, L)``: latent clusters and dimension per cluster."""
        return self.config.latent_clusters, self.config.latent_dim

    def forward(self, features: Tensor, neighbours: Tensor, mask: Tensor,
                noise: Optional[Tensor] = None, check: bool = True) -> Dict[str, Any]:
        """Training forward.

        Args:
            features: float32 ``[B, N, 6]`` normalised node features (zero on padding).
            neighbours: int64 ``[B, N, k]`` kNN indices.
            mask: bool ``[B, N]`` real nodes.
            noise: float32 ``[B, C, L]`` standard normal draws for ``z = mu + noise*sigma``;
                ``None`` means zeros (deterministic: the latent mean).
            check: validate the inputs (:func:`check_inputs`).

        Returns:
            dict with ``reconstruction [B, N, 3]``, ``mu``/``logvar``/``z [B, C, L]``,
            ``assignments`` (list of ``[B, N_p, C_p]``), ``adjacency`` (the encoder's node graph:
            dense ``[B, N, N]``, or the neighbour list ``[B, N, k]`` with ``knn``),
            ``pooled_adjacency`` (list), ``mincut_loss`` / ``ortho_loss``
            (scalars summed over the stages) and the per-stage lists ``mincut_stages`` /
            ``ortho_stages``.
        """
        if check:
            check_inputs(features, neighbours, mask, self.config)
        adj = self.adjacency(neighbours, mask)
        h, adjs, ss, mincuts, orthos = self.encoder.forward_with_losses(features, adj, mask)
        mu, logvar = self.latent(h)
        if noise is None:
            noise = torch.zeros_like(mu)
        z = reparameterise(mu, logvar, noise.to(mu.dtype))
        reconstruction = self.decoder(z, adjs[-1], ss, features, mask)
        return {
            "reconstruction": reconstruction, "mu": mu, "logvar": logvar, "z": z,
            "assignments": ss, "adjacency": adj, "pooled_adjacency": adjs,
            "mincut_loss": torch.stack(mincuts).sum(), "ortho_loss": torch.stack(orthos).sum(),
            "mincut_stages": mincuts, "ortho_stages": orthos,
        }
