"""The Graph Variational Autoencoder: kNN graph -> encoder -> latent -> decoder."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import torch
from torch import Tensor, nn

from gvae.errors import InvalidInput
from gvae.model.adjacency import KnnAdjacency
from gvae.model.config import IN_FEATURES, ModelConfig
from gvae.model.decoder import Decoder
from gvae.model.encoder import Encoder
from gvae.model.knn import KnnEncoder, NeighbourList
from gvae.model.latent import JetSummary, VariationalLatent, reparameterise
from gvae.model.pca import PCA_INIT_SIGMA, PCAEncoderPath
from gvae.model.set_decoder import DecodedSet, SetDecoder


def check_inputs(features: Tensor, neighbours: Tensor, mask: Tensor, cfg: ModelConfig,
                 nodes: int | None = None) -> None:
    """Validate model inputs against DESIGN §5/§7 and the config; raise :class:`InvalidInput`.

    ``nodes``: the node dimension N the inputs must have (default ``cfg.max_nodes``).
    """
    n = cfg.max_nodes if nodes is None else nodes
    if features.dim() != 3 or features.shape[1:] != (n, IN_FEATURES) \
            or features.dtype != torch.float32:
        raise InvalidInput(f"expected float32 [B, {n}, {IN_FEATURES}], got "
                           f"{features.dtype} {list(features.shape)}", field="features")
    batch = features.shape[0]
    if neighbours.shape != (batch, n, cfg.k) or neighbours.dtype != torch.int64:
        raise InvalidInput(f"expected int64 [{batch}, {n}, {cfg.k}], got "
                           f"{neighbours.dtype} {list(neighbours.shape)}", field="neighbours")
    if mask.shape != (batch, n) or mask.dtype != torch.bool:
        raise InvalidInput(f"expected bool [{batch}, {n}], got {mask.dtype} "
                           f"{list(mask.shape)}", field="mask")
    if neighbours.numel() and (int(neighbours.min()) < 0 or int(neighbours.max()) >= n):
        raise InvalidInput(f"neighbour indices must lie in [0, {n})", field="neighbours")
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
        self.decoder = Decoder(config) if config.decoder == "paper" else SetDecoder(config)
        if config.latent_summary:
            self.summary = JetSummary(config.latent_clusters, config.latent_dim, config.hidden,
                                      config.latent_summary_hits)
        if config.pca_init:
            # model.pca_init (gvae.model.pca): the latent mean starts as the jet's PCA coefficients; the
            # GNN's contribution and the log-variance start constant (zero weights), so the untrained
            # model is the PCA and training learns corrections. The PCA is fitted by the trainer.
            self.pca_encoder = PCAEncoderPath(config.slot_budget, config.latent_clusters, config.latent_dim,
                                              config.pca_trainable)
            if not config.pca_trainable:  # frozen: one copy of the PCA, shared by the encoder and decoder
                for name in ("mean", "basis", "scale"):
                    setattr(self.pca_encoder, name, getattr(self.decoder.pca, name))
            with torch.no_grad():
                nn.init.zeros_(self.latent.mu.weight)
                nn.init.zeros_(self.latent.mu.bias)
                nn.init.zeros_(self.latent.logvar.weight)
                self.latent.logvar.bias.fill_(2.0 * math.log(PCA_INIT_SIGMA))

    def _latent(self, h: Tensor, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Cluster embeddings ``h [B, C, H]`` -> ``(mu, logvar)`` ``[B, C, L]`` (plus the jet summary
        offset of ``model.latent_summary`` and the PCA coefficients of ``model.pca_init``)."""
        mu, logvar = self.latent(h)
        if self.config.latent_summary:
            mu = mu + self.summary(features, mask)
        if self.config.pca_init:
            mu = mu + self.pca_encoder(features, mask)
        return mu, logvar

    @property
    def latent_shape(self) -> tuple[int, int]:
        """``(C, L)``: latent clusters and dimension per cluster."""
        return self.config.latent_clusters, self.config.latent_dim

    def _trimmed(self, features: Tensor, neighbours: Tensor, mask: Tensor, check: bool
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """Validate and drop the padding columns beyond the batch's largest jet.

        The graph builder puts the real nodes first (DESIGN §4), and padding nodes contribute
        nothing to the encoder (masked GraphSAGE, masked assignments), so the latent is the same
        up to float rounding while the dense encoder's cost follows the batch's largest jet
        instead of ``max_nodes``. Inputs of any N <= max_nodes are accepted.
        """
        if check:
            if features.dim() != 3 or features.shape[1] > self.config.max_nodes:
                raise InvalidInput(f"expected float32 [B, N <= {self.config.max_nodes}, {IN_FEATURES}], got "
                                   f"{features.dtype} {list(features.shape)}", field="features")
            check_inputs(features, neighbours, mask, self.config, nodes=features.shape[1])
        n = int(mask.sum(dim=1).max()) if mask.numel() else 0
        n = max(n, self.config.k + 1)
        if n < mask.shape[1] and not bool(mask[:, n:].any()):
            features, neighbours, mask = features[:, :n], neighbours[:, :n], mask[:, :n]
            neighbours = torch.minimum(neighbours, torch.arange(n, device=mask.device).view(1, n, 1)
                                       .expand_as(neighbours)) if bool((neighbours >= n).any()) else neighbours
        return features, neighbours, mask

    def encode(self, features: Tensor, neighbours: Tensor, mask: Tensor, check: bool = True
               ) -> tuple[Tensor, Tensor]:
        """features ``[B, N, 6]``, neighbours ``[B, N, k]``, mask ``[B, N]`` -> ``(mu, logvar)`` ``[B, C, L]``."""
        features, neighbours, mask = self._trimmed(features, neighbours, mask, check)
        adj = self.adjacency(neighbours, mask)
        h, _, _ = self.encoder(features, adj, mask)
        return self._latent(h, features, mask)

    def decode(self, z: Tensor, noise: Optional[Tensor] = None) -> DecodedSet:
        """Latent-only decoding (``model.decoder: latent``): z ``[B, C, L]`` and optional count
        noise ``[B, 3]`` (standard normal; None = deterministic) -> :class:`DecodedSet`
        (normalised ``xyu [B, S, 3]``, ``channel [B, S]``, ``mask [B, S]``, ``counts [B, 3]``).
        Nothing but ``z`` and ``noise`` reaches the decoder."""
        if not isinstance(self.decoder, SetDecoder):
            raise InvalidInput("decode() needs model.decoder: latent; the paper decoder unpools with the "
                               "encoder's assignments and cannot decode a latent alone", field="decoder")
        return self.decoder(z, noise)

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
        if isinstance(self.decoder, SetDecoder):
            return self._forward_latent(features, neighbours, mask, noise, check)
        if check:
            check_inputs(features, neighbours, mask, self.config)
        adj = self.adjacency(neighbours, mask)
        h, adjs, ss, mincuts, orthos = self.encoder.forward_with_losses(features, adj, mask)
        mu, logvar = self._latent(h, features, mask)
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

    def _forward_latent(self, features: Tensor, neighbours: Tensor, mask: Tensor, noise: Optional[Tensor],
                        check: bool) -> Dict[str, Any]:
        """Training forward of the latent decoder: as :meth:`forward` but ``decoded`` (a
        :class:`DecodedSet` decoded with the true per-channel hit counts, teacher forcing of the
        set size) instead of ``reconstruction``; ``features``/``mask`` are returned trimmed."""
        from gvae.model.set_loss import true_counts

        features, neighbours, mask = self._trimmed(features, neighbours, mask, check)
        adj = self.adjacency(neighbours, mask)
        h, adjs, ss, mincuts, orthos = self.encoder.forward_with_losses(features, adj, mask)
        mu, logvar = self._latent(h, features, mask)
        if noise is None:
            noise = torch.zeros_like(mu)
        z = reparameterise(mu, logvar, noise.to(mu.dtype))
        decoded = self.decoder(z, None, true_counts(features, mask))
        return {
            "decoded": decoded, "features": features, "mask": mask, "mu": mu, "logvar": logvar, "z": z,
            "assignments": ss, "adjacency": adj, "pooled_adjacency": adjs,
            "mincut_loss": torch.stack(mincuts).sum(), "ortho_loss": torch.stack(orthos).sum(),
            "mincut_stages": mincuts, "ortho_stages": orthos,
        }
