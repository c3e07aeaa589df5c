"""The project's one PCA fit, and the PCA path of ``model.pca_init`` (issue 14, round 3).

:class:`StreamingPCA` accumulates the mean and covariance of flattened vectors in float64 over
batches and diagonalises them (with no more samples than features, the equivalent smaller Gram matrix
of the centred rows). The evaluation's baselines (:class:`gvae.evaluate.baseline.PCABaseline`, the
latent-only PCA) subclass it with their own vector layouts.

``model.pca_init`` gives the latent-only GVAE a linear path that makes it *start* at PCA quality:

* the **ordered slot vector** of a jet (:func:`ordered_slots`) is exactly the set decoder's output
  layout: per channel ``c``, slots ``i < slots[c]`` hold the ``i``-th most energetic hit of that
  channel (``x', y', u'``, the graph's order of DESIGN §4.3, the target of the ``ordered`` loss term)
  and a presence flag (1 for a hit, 0 for an empty slot); ``[B, S, 4]`` with ``S = sum(slots)``;
* before training a PCA with ``K = C * L`` components is fitted on the training jets' ordered slot
  vectors (:func:`fit_pca_paths`);
* encoder side (:class:`PCAEncoderPath`): the latent mean gets ``reshape(P^T (v - m)) / s``, ``v`` the
  input jet's own ordered slot vector, ``P [D, K]`` the components, ``s [K]`` the square roots of their
  variances (so the latent is ~unit variance, as the prior N(0, 1) of the KL term);
* decoder side (:class:`PCADecoderPath`, reads only ``z``): every decoded slot gets ``m + P (z * s)``
  at its position (``x', y', u'``), and the hit counts get ``log(1 + n_c)`` with ``n_c`` the sum of the
  reconstructed presence flags of channel ``c`` (clamped to ``[0, 1]``).

With ``model.pca_trainable`` the components and mean (separate copies for the encoder and the decoder)
are parameters fine-tuned by the optimiser; otherwise they are buffers (frozen). Either way they are in
the state dict, so checkpoints and exported models carry them. The basis is stored as ``sqrt(D) P``
(unit-size elements), so an Adam step changes it by ~``lr`` relative, not by ~``lr / (1 / sqrt(D))``.
"""
from __future__ import annotations

import logging
import math
from typing import Iterable, List, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from gvae.errors import ConfigError, InvalidInput

log = logging.getLogger(__name__)

#: Eigenvalues below this fraction of the largest count as zero variance (numerical rank).
RANK_TOLERANCE = 1e-10
#: Numbers per ordered slot: x', y', u', presence.
SLOT_DIM = 4
#: Initial posterior standard deviation of the latent with ``model.pca_init`` (the latent is ~unit
#: variance there, so the reparameterisation noise starts at 10 % of a component's spread).
PCA_INIT_SIGMA = 0.1


class StreamingPCA:
    """Streaming PCA of vectors ``[B, D]``: :meth:`add` batches, then :meth:`finish`.

    After :meth:`finish`: ``mean [D]``, ``components [k, D]`` (orthonormal rows, variance descending),
    ``explained_variance [k]``, ``total_variance``, ``rank``. If the data spans fewer than the requested
    directions only the ``rank`` non-zero ones are kept (:attr:`rank_limited`).
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

    def add(self, v: np.ndarray) -> None:
        """Accumulate the float64 rows ``v [B, D]``."""
        v = np.asarray(v, dtype=np.float64)
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

    def finish(self) -> "StreamingPCA":
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
            log.warning("PCA: %d components requested (the latent size) but the %d training jets span only "
                        "%d directions; using %d", self.requested, n, self.rank, k)
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

    @property
    def explained_fraction(self) -> float:
        """Fraction of the total variance the kept components explain."""
        if self.explained_variance is None or self.total_variance <= 0:
            return float("nan")
        return float(self.explained_variance.sum() / self.total_variance)


def ordered_slots(features: Tensor, mask: Tensor, slots: List[int]) -> Tensor:
    """The ordered slot vector of each jet (module docstring): features ``[B, N, 6]`` (x', y', u',
    channel one-hot; nodes energy-descending within the graph, DESIGN §4.3), mask ``[B, N]``, slots per
    channel -> ``[B, sum(slots), 4]`` (``x', y', u'``, presence; zeros on empty slots). Hits beyond a
    channel's slot budget are dropped (as the decoder, which emits at most ``slots[c]``)."""
    b = features.shape[0]
    out: List[Tensor] = []
    for c in range(3):
        k = slots[c]
        m = mask & (features[:, :, 3 + c] > 0.5)
        rank = torch.cumsum(m.to(torch.int64), dim=1) - 1
        index = torch.where(m & (rank < k), rank, torch.full_like(rank, k))        # k: discarded
        values = torch.cat([features[:, :, :3], torch.ones_like(features[:, :, :1])], dim=-1)
        buf = features.new_zeros((b, k + 1, 4))                                     # 4 = SLOT_DIM (TorchScript)
        buf = buf.scatter(1, index.unsqueeze(-1).expand(-1, -1, 4), values)
        out.append(buf[:, :k])
    return torch.cat(out, dim=1)


class _PCABasis(nn.Module):
    """Mean ``[D]``, basis ``sqrt(D) P^T [K, D]`` and component scales ``s [K]``; buffers or parameters."""

    def __init__(self, slots: List[int], components: int, trainable: bool) -> None:
        super().__init__()
        self.slots = [int(s) for s in slots]
        dim = sum(self.slots) * SLOT_DIM
        self.dim, self.components = dim, int(components)
        self.norm = math.sqrt(dim)
        mean, basis = torch.zeros(dim), torch.zeros(self.components, dim)
        if trainable:
            self.mean = nn.Parameter(mean)
            self.basis = nn.Parameter(basis)
        else:
            self.register_buffer("mean", mean)
            self.register_buffer("basis", basis)
        self.register_buffer("scale", torch.ones(self.components))

    @torch.no_grad()
    def load_pca(self, pca: StreamingPCA) -> None:
        """Copy a fitted :class:`StreamingPCA` of ordered slot vectors (components beyond its rank: 0)."""
        if pca.mean is None or pca.components is None or pca.explained_variance is None:
            raise ConfigError("PCA path: the PCA is not fitted")
        if len(pca.mean) != self.dim:
            raise ConfigError(f"PCA path: fitted on {len(pca.mean)} numbers per jet, the model's slot "
                              f"layout has {self.dim}")
        k = pca.n_components
        self.mean.copy_(torch.from_numpy(pca.mean))
        self.basis.zero_()
        self.basis[:k].copy_(torch.from_numpy(pca.components) * self.norm)
        self.scale.fill_(1.0)
        self.scale[:k].copy_(torch.from_numpy(np.sqrt(np.maximum(pca.explained_variance, 1e-12))))


class PCAEncoderPath(_PCABasis):
    """Encoder side: features ``[B, N, 6]``, mask ``[B, N]`` -> latent-mean offset ``[B, C, L]``
    = ``P^T (v - m) / s`` of the jet's own ordered slot vector ``v``."""

    def __init__(self, slots: List[int], clusters: int, latent_dim: int, trainable: bool) -> None:
        super().__init__(slots, clusters * latent_dim, trainable)
        self.clusters, self.latent_dim = int(clusters), int(latent_dim)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        v = ordered_slots(features, mask, self.slots).flatten(1) - self.mean
        coeff = (v @ self.basis.t()) / (self.norm * self.scale)
        return coeff.view(-1, self.clusters, self.latent_dim)


class PCADecoderPath(_PCABasis):
    """Decoder side, reads only ``z``: ``z [B, C, L]`` -> the PCA reconstruction ``m + P (z * s)`` of the
    ordered slot vector ``[B, S, 4]`` (:meth:`forward`) and the log hit counts it implies (:meth:`log_counts`)."""

    def __init__(self, slots: List[int], clusters: int, latent_dim: int, trainable: bool) -> None:
        super().__init__(slots, clusters * latent_dim, trainable)
        channel = torch.cat([torch.full((s,), c, dtype=torch.int64) for c, s in enumerate(self.slots)])
        self.register_buffer("onehot", nn.functional.one_hot(channel, 3).to(torch.float32), persistent=False)

    def forward(self, z: Tensor) -> Tensor:
        rec = self.mean + ((z.flatten(1) * self.scale) @ self.basis) / self.norm
        return rec.view(z.shape[0], -1, 4)                                          # 4 = SLOT_DIM

    def log_counts(self, rec: Tensor) -> Tensor:
        """``rec [B, S, 4]`` -> ``log(1 + n_c) [B, 3]``, ``n_c`` the channel's presence flags clamped
        to ``[0, 1]`` and summed."""
        return torch.log1p(rec[..., 3].clamp(0.0, 1.0) @ self.onehot.to(rec.dtype))


def fit_pca_paths(model: nn.Module, batches: Iterable[Tuple[Tensor, Tensor]]) -> StreamingPCA:
    """Fit the PCA of ``model.pca_init`` on the ordered slot vectors of ``batches`` (features ``[B, N, 6]``,
    mask ``[B, N]``: the training jets) and load it into the model's encoder and decoder paths."""
    enc, dec = getattr(model, "pca_encoder", None), getattr(model.decoder, "pca", None)
    if not isinstance(enc, PCAEncoderPath) or not isinstance(dec, PCADecoderPath):
        raise ConfigError("fit_pca_paths needs a GVAE built with model.pca_init: true")
    pca = StreamingPCA(enc.components)
    with torch.no_grad():
        for features, mask in batches:
            pca.add(ordered_slots(features.float().cpu(), mask.cpu(), enc.slots).flatten(1).double().numpy())
    pca.finish()
    enc.load_pca(pca)
    dec.load_pca(pca)
    log.info("model.pca_init: PCA of %d training jets' ordered slot vectors (%d numbers), %d components, "
             "explained variance %.3f", pca.n_samples, enc.dim, pca.n_components, pca.explained_fraction)
    return pca


__all__ = ["PCA_INIT_SIGMA", "PCADecoderPath", "PCAEncoderPath", "RANK_TOLERANCE", "SLOT_DIM", "StreamingPCA",
           "fit_pca_paths", "ordered_slots"]
