"""Inference wrapper with exactly the exported signature of DESIGN §7."""
from __future__ import annotations

from torch import Tensor, nn

from gvae.model.gvae import GVAE
from gvae.model.latent import reparameterise


class InferenceModel(nn.Module):
    """``forward(features f32 [B,N,6], neighbours i64 [B,N,k], mask bool [B,N],
    noise f32 [B,C,L]) -> f32 [B,N,3]``.

    ``z = mu + noise * exp(logvar / 2)``: ``noise = 0`` is the deterministic mode (latent mean);
    sampling passes standard normal noise drawn from the caller's generator, so the module holds
    no random state. Shares the trained submodules of a :class:`GVAE` (no copy) and skips the
    auxiliary pooling losses. Scriptable (``torch.jit.script``) and exportable
    (``torch.export.export`` with a dynamic batch dimension).
    """

    def __init__(self, gvae: GVAE) -> None:
        super().__init__()
        self.adjacency = gvae.adjacency
        self.encoder = gvae.encoder
        self.latent = gvae.latent
        self.decoder = gvae.decoder

    def forward(self, features: Tensor, neighbours: Tensor, mask: Tensor, noise: Tensor) -> Tensor:
        """See the class docstring; returns the normalised reconstruction ``[B, N, 3]``."""
        adj = self.adjacency(neighbours, mask)
        h, adjs, ss = self.encoder(features, adj, mask)
        mu, logvar = self.latent(h)
        z = reparameterise(mu, logvar, noise)
        return self.decoder(z, adjs[-1], ss, features, mask)
