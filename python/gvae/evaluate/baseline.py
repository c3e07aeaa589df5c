"""The baseline the GVAE has to beat: PCA on the same node representation.

Each jet is the flattened, zero-padded normalised node matrix ``(x', y', u')`` (DESIGN §5) of its
graph, ``[N * 3]`` with the nodes in the graph's canonical order (energy descending, DESIGN §4.3) and
padding rows zero. PCA is fitted on the training split (streaming: the mean and the covariance are
accumulated in float64 over batches, then diagonalised; with no more training jets than features
the equivalent, smaller Gram matrix of the centred jets is diagonalised instead) and keeps as many components as the GVAE has
latent numbers (``clusters * latent_dim``). A test jet is projected and reconstructed; as for the
GVAE only its real nodes are kept and each keeps its input channel.

If the training data has fewer independent directions than the latent size (fewer training jets
than components, or fewer than ``N * 3`` features), only the ``rank`` components with non-zero
variance exist; the extra directions would be arbitrary vectors of the null space, so they are not
used and :attr:`PCABaseline.rank_limited` records it (the report states it).
"""
from __future__ import annotations

import numpy as np
import torch

from gvae.errors import ConfigError, InvalidInput
from gvae.model.pca import RANK_TOLERANCE, StreamingPCA

__all__ = ["PCABaseline", "RANK_TOLERANCE"]


class PCABaseline(StreamingPCA):
    """Linear autoencoder by PCA: ``z = V^T (v - mean)``, ``v_hat = mean + V z``.

    ``v``: flattened normalised node features ``[N * 3]``; ``V``: ``[N * 3, k]`` principal axes (the fit is
    :class:`gvae.model.pca.StreamingPCA`, the project's one PCA).
    """

    @staticmethod
    def vectorise(xyz: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> np.ndarray:
        """xyz ``[B, N, 3]`` normalised features, mask ``[B, N]`` -> float64 ``[B, N * 3]`` (padding 0)."""
        x = torch.as_tensor(xyz).detach().to(torch.float64).cpu().numpy()
        m = torch.as_tensor(mask).detach().cpu().numpy().astype(bool)
        if x.ndim != 3 or x.shape[2] != 3 or m.shape != x.shape[:2]:
            raise InvalidInput(f"expected xyz [B, N, 3] and mask [B, N], got {x.shape} and {m.shape}",
                               field="features")
        return (x * m[..., None]).reshape(len(x), -1)

    def partial_fit(self, xyz: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> None:
        """Accumulate one batch of training jets (xyz ``[B, N, 3]``, mask ``[B, N]``)."""
        self.add(self.vectorise(xyz, mask))

    def reconstruct(self, xyz: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> np.ndarray:
        """Normalised reconstruction float64 ``[B, N, 3]`` (padding rows set to 0)."""
        if self.components is None or self.mean is None:
            raise ConfigError("PCABaseline.reconstruct called before finish()")
        v = self.vectorise(xyz, mask)
        if v.shape[1] != len(self.mean):
            raise InvalidInput(f"jets have {v.shape[1]} features, the PCA was fitted on {len(self.mean)}",
                               field="features")
        z = (v - self.mean) @ self.components.T
        out = (self.mean + z @ self.components).reshape(len(v), -1, 3)
        return out * torch.as_tensor(mask).cpu().numpy().astype(bool)[..., None]

    def summary(self) -> dict[str, object]:
        """What the report states about the baseline."""
        explained = float(self.explained_variance.sum() / self.total_variance) \
            if self.explained_variance is not None and self.total_variance > 0 else float("nan")
        return {"method": "pca", "representation": "flattened zero-padded normalised node features (x', y', u') [N*3]",
                "requested_components": self.requested, "components": self.n_components,
                "training_jets": self.n_samples, "data_rank": self.rank, "rank_limited": self.rank_limited,
                "explained_variance_fraction": explained}
