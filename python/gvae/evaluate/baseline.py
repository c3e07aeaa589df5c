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

import logging

import numpy as np
import torch

from gvae.errors import ConfigError, InvalidInput

log = logging.getLogger(__name__)

#: Eigenvalues below this fraction of the largest count as zero variance (numerical rank).
RANK_TOLERANCE = 1e-10


class PCABaseline:
    """Linear autoencoder by PCA: ``z = V^T (v - mean)``, ``v_hat = mean + V z``.

    ``v``: flattened normalised node features ``[N * 3]``; ``V``: ``[N * 3, k]`` principal axes.
    """

    def __init__(self, n_components: int) -> None:
        if n_components < 1:
            raise ConfigError(f"PCA needs at least one component, got {n_components}")
        self.requested = int(n_components)
        self.n_samples = 0
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None
        self._rows: list[np.ndarray] | None = []  # kept while n <= D: the Gram route is then cheaper
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None  # [k, D]
        self.explained_variance: np.ndarray | None = None
        self.total_variance = 0.0
        self.rank = 0

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
        v = self.vectorise(xyz, mask)
        if self._sum is None:
            self._sum = np.zeros(v.shape[1])
        elif v.shape[1] != len(self._sum):
            raise InvalidInput(f"jets have {v.shape[1]} features, the fit started with {len(self._sum)}",
                               field="features")
        self._sum += v.sum(axis=0)
        self.n_samples += len(v)
        if self._rows is not None:
            # while n <= D the rows are kept (the Gram matrix is diagonalised); the D x D outer
            # product is only built once n exceeds D
            self._rows.append(v)
            if self.n_samples > v.shape[1]:
                rows = np.concatenate(self._rows)
                self._outer = rows.T @ rows
                self._rows = None
        else:
            self._outer += v.T @ v

    def finish(self) -> "PCABaseline":
        """Diagonalise the accumulated covariance and keep the leading components."""
        if self.n_samples < 2 or self._sum is None or (self._outer is None and self._rows is None):
            raise ConfigError(f"PCA needs at least 2 training jets, got {self.n_samples}")
        n = self.n_samples
        self.mean = self._sum / n
        if self._rows is not None:
            # n <= D: diagonalise the n x n Gram matrix of the centred rows instead of the D x D
            # covariance (same non-zero spectrum; axes = Xc^T u / sqrt((n - 1) lambda)).
            xc = np.concatenate(self._rows) - self.mean
            evals, u = np.linalg.eigh(xc @ xc.T / (n - 1))
            order = np.argsort(evals)[::-1]
            evals, u = np.clip(evals[order], 0.0, None), u[:, order]
            keep = evals > RANK_TOLERANCE * max(evals[0], 1e-300)
            evecs = np.zeros((xc.shape[1], len(evals)))
            evecs[:, keep] = xc.T @ u[:, keep] / np.sqrt((n - 1) * evals[keep])
        else:
            cov = (self._outer - n * np.outer(self.mean, self.mean)) / (n - 1)
            evals, evecs = np.linalg.eigh(cov)
            order = np.argsort(evals)[::-1]
            evals, evecs = np.clip(evals[order], 0.0, None), evecs[:, order]
        self.total_variance = float(evals.sum())
        self.rank = int((evals > RANK_TOLERANCE * max(evals[0], 1e-300)).sum())
        k = min(self.requested, self.rank)
        if k < self.requested:
            log.warning("PCA baseline: %d components requested (GVAE latent size) but the %d training "
                        "jets span only %d directions; using %d", self.requested, n, self.rank, k)
        self.components = evecs[:, :k].T.copy()
        self.explained_variance = evals[:k].copy()
        self._sum = self._outer = None
        self._rows = None
        return self

    @property
    def n_components(self) -> int:
        """Components actually used (``min(requested, rank)``)."""
        return 0 if self.components is None else len(self.components)

    @property
    def rank_limited(self) -> bool:
        """True when the training data has fewer directions than the requested latent size."""
        return self.n_components < self.requested

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
