"""Latent-only PCA: the honest linear baseline for a decoder that reads only the latent (issue 14).

Each jet is the flattened, zero-padded matrix of its graph's nodes in the graph builder's order
(energy descending, DESIGN §4.3), one 7-vector per node::

    [x', y', u', is_track, is_ecal, is_hcal, real]

(``x', y', u'`` normalised as the model inputs, DESIGN §5; padding rows all zero, ``real`` = 0).
PCA with ``k`` components (the GVAE's latent size) gives ``k`` numbers per jet. Decoding reads
everything from the reconstructed vector, nothing from the input jet: a node exists where its
reconstructed ``real`` flag exceeds 0.5, its channel is the arg-max of the reconstructed one-hot,
its position and energy come from ``x', y', u'`` (normalisation inverted, energy clamped at
:data:`MAX_NODE_ENERGY`). :meth:`LatentOnlyPCA.decode_set` returns this as the latent decoder's
:class:`gvae.model.set_decoder.DecodedSet`, so the decoded hits are snapped onto the detector cells by
the same code as the latent-only GVAE's (:func:`gvae.model.snap.snap_to_detector`: pixels, HCAL tower
centres, readout thresholds and the tracks' curling pT) before any comparison.

This is the project's one latent-only PCA: ``gvae.evaluate.latent`` (the evaluation of a latent-decoder
checkpoint), ``gvae.evaluate.reconstruction`` and ``gvae.evaluate.baseline_sections`` all use it.

:class:`GaussianPCAGenerator` is the matching generative baseline: the PCA coefficients of the
training jets of each jet type (optionally per pT bin) are modelled by a full-covariance Gaussian,
sampled with a seeded generator and decoded the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from gvae.errors import ConfigError, InvalidInput
from gvae.evaluate.baseline import PCABaseline
from gvae.jets import Hits
from gvae.graphs.normalisation import Normalisation
from gvae.model.set_decoder import DecodedSet
from gvae.model.snap import evaluation_hits, snap_to_detector

#: Per-node vector: normalised (x', y', u'), channel one-hot, real flag.
NODE_VECTOR: tuple[str, ...] = ("x", "y", "log_energy", "is_track", "is_ecal", "is_hcal", "real")
NODE_DIM = len(NODE_VECTOR)
#: Largest energy a decoded node may carry (GeV; as gvae.evaluate.run.MAX_NODE_ENERGY).
MAX_NODE_ENERGY = 14000.0
#: Jet label (``y`` of the data) -> jet type name (the ``--process`` names of ``gvae.data generate``).
JET_TYPES: dict[int, str] = {1: "ttbar", 0: "qcd"}


def node_vectors(features6: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """Model inputs ``features6 [B, N, 6]`` (x', y', u', one-hot) and mask ``[B, N]`` -> float64
    ``[B, N, 7]`` node vectors (padding rows zero)."""
    f = torch.as_tensor(features6).detach().to(torch.float64).cpu().numpy()
    m = torch.as_tensor(mask).detach().cpu().numpy().astype(bool)
    if f.ndim != 3 or f.shape[2] != 6 or m.shape != f.shape[:2]:
        raise InvalidInput(f"expected features6 [B, N, 6] and mask [B, N], got {f.shape} and {m.shape}",
                           field="features")
    out = np.concatenate([f, np.ones(f.shape[:2] + (1,))], axis=2)
    return out * m[..., None]


class LatentOnlyPCA(PCABaseline):
    """PCA over flattened node vectors ``[N * 7]``; :meth:`encode` -> ``[B, k]``, :meth:`decode` -> hits.

    Fit with :meth:`partial_fit` (``features6 [B, N, 6]``, ``mask [B, N]``) then :meth:`finish`.
    """

    @staticmethod
    def vectorise(xyz: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> np.ndarray:
        """``features6 [B, N, 6]`` and mask ``[B, N]`` -> float64 ``[B, N * 7]``."""
        v = node_vectors(xyz, mask)
        return v.reshape(len(v), -1)

    def _ready(self) -> tuple[np.ndarray, np.ndarray]:
        if self.components is None or self.mean is None:
            raise ConfigError("LatentOnlyPCA used before finish()")
        return self.components, self.mean

    @property
    def max_nodes(self) -> int:
        """Node slots ``N`` of the fitted representation."""
        return len(self._ready()[1]) // NODE_DIM

    def encode(self, features6: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> np.ndarray:
        """Coefficients float64 ``[B, k]`` of jets given as model inputs."""
        comps, mean = self._ready()
        v = self.vectorise(features6, mask)
        if v.shape[1] != len(mean):
            raise InvalidInput(f"jets have {v.shape[1]} features, the PCA was fitted on {len(mean)}", field="features")
        return (v - mean) @ comps.T

    def decode_vectors(self, z: np.ndarray) -> np.ndarray:
        """Coefficients ``[B, k]`` -> reconstructed node vectors float64 ``[B, N, 7]``."""
        comps, mean = self._ready()
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != len(comps):
            raise InvalidInput(f"coefficients must be [B, {len(comps)}], got {z.shape}", field="z")
        return (mean + z @ comps).reshape(len(z), -1, NODE_DIM)

    def decode_set(self, z: np.ndarray) -> DecodedSet:
        """Coefficients ``[B, k]`` -> :class:`DecodedSet` of ``N`` slots in normalised units: a slot is a hit
        where its reconstructed real flag exceeds 0.5, its channel is the arg-max of the one-hot part;
        ``counts [B, 3]`` are the hits per channel (no true mask, count or channel is read)."""
        v = torch.as_tensor(self.decode_vectors(z), dtype=torch.float32)
        real = v[..., 6] > 0.5
        channel = v[..., 3:6].argmax(-1)
        counts = torch.stack([(real & (channel == c)).sum(1) for c in range(3)], dim=1)
        zeros = torch.zeros(len(v), 3)
        return DecodedSet(xyu=v[..., :3].contiguous(), channel=channel, mask=real, counts=counts,
                          log_count_mean=zeros, log_count_logstd=zeros)

    def decode(self, z: np.ndarray, normalisation: Normalisation, snap_to_detector: bool = True
               ) -> list[Hits]:
        """Coefficients ``[B, k]`` -> one :class:`Hits` per jet (module docstring); snapped by default with
        :func:`gvae.model.snap.snap_to_detector`, exactly as the latent-only GVAE's output."""
        if snap_to_detector:
            return decoded_hits(self.decode_set(z), normalisation)
        return [vector_to_hits(v, normalisation) for v in self.decode_vectors(z)]

    def reconstruct_hits(self, features6: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray,
                         normalisation: Normalisation, snap_to_detector: bool = True) -> list[Hits]:
        """Encode then decode: the hits each jet becomes through ``k`` numbers."""
        return self.decode(self.encode(features6, mask), normalisation, snap_to_detector)

    def summary(self) -> dict[str, object]:
        out = super().summary()
        out.update({"method": "pca-latent-only",
                    "representation": "flattened zero-padded node vectors [x', y', u', one-hot channel, real flag] "
                                      f"[N*{NODE_DIM}]; decoded without the true mask or channel, snapped to the detector"})
        return out


def decoded_hits(decoded: DecodedSet, normalisation: Normalisation) -> list[Hits]:
    """A decoded batch (GVAE or PCA, normalised units) -> snapped detector hits, one :class:`Hits` per jet."""
    table, _ = snap_to_detector(decoded, normalisation)
    return evaluation_hits(table)


def vector_to_hits(vectors: np.ndarray, normalisation: Normalisation) -> Hits:
    """One jet's reconstructed node vectors ``[N, 7]`` -> continuous hits, not snapped (real flag > 0.5,
    channel = arg-max); :meth:`LatentOnlyPCA.decode` snaps."""
    v = np.asarray(vectors, dtype=np.float64)
    real = v[:, 6] > 0.5
    channel = np.argmax(v[:, 3:6], axis=1)
    u_max = (math.log(MAX_NODE_ENERGY) - normalisation.mean_u) / normalisation.std_u
    xyz = v[real, :3].copy()
    xyz[:, 2] = np.minimum(xyz[:, 2], u_max)
    phys = np.asarray(normalisation.invert(xyz), dtype=np.float64)
    return Hits.at(phys[:, 0], phys[:, 1], phys[:, 2], channel[real].astype(np.int64))


@dataclass
class _Gaussian:
    mean: np.ndarray  # [k]
    cov: np.ndarray  # [k, k]
    n: int


class GaussianPCAGenerator:
    """Generative baseline: a Gaussian over the :class:`LatentOnlyPCA` coefficients per jet type
    (and per pT bin when ``pt_edges`` is given).

    Fit with :meth:`fit` on the coefficients ``z [n, k]``, jet types ``[n]`` (names) and pTs ``[n]``.
    """

    def __init__(self, pca: LatentOnlyPCA, normalisation: Normalisation,
                 pt_edges: Sequence[float] | None = None) -> None:
        self.pca = pca
        self.normalisation = normalisation
        self.pt_edges = None if pt_edges is None else np.asarray(pt_edges, dtype=np.float64)
        if self.pt_edges is not None and (len(self.pt_edges) < 2 or np.any(np.diff(self.pt_edges) <= 0)):
            raise ConfigError(f"pt_edges must be at least two increasing values, got {pt_edges}")
        self.gaussians: dict[tuple[str, int], _Gaussian] = {}

    def _bin(self, pt: np.ndarray) -> np.ndarray:
        if self.pt_edges is None:
            return np.zeros(len(pt), dtype=np.int64)
        return np.clip(np.searchsorted(self.pt_edges, pt, side="right") - 1, 0, len(self.pt_edges) - 2)

    def fit(self, z: np.ndarray, jet_types: Sequence[str], pt: np.ndarray | None = None) -> "GaussianPCAGenerator":
        """Fit one Gaussian per (type, pT bin) with at least 2 jets."""
        z = np.asarray(z, dtype=np.float64)
        types = np.asarray(jet_types)
        if len(types) != len(z):
            raise InvalidInput(f"{len(z)} coefficient rows but {len(types)} jet types", field="jet_types")
        bins = self._bin(np.zeros(len(z)) if pt is None else np.asarray(pt, dtype=np.float64))
        for t in np.unique(types):
            for b in np.unique(bins[types == t]):
                sel = (types == t) & (bins == b)
                if sel.sum() < 2:
                    continue
                self.gaussians[(str(t), int(b))] = _Gaussian(z[sel].mean(axis=0), np.cov(z[sel], rowvar=False)
                                                              .reshape(z.shape[1], z.shape[1]), int(sel.sum()))
        if not self.gaussians:
            raise ConfigError("GaussianPCAGenerator: no jet type has 2 or more training jets")
        return self

    @property
    def jet_types(self) -> list[str]:
        return sorted({t for t, _ in self.gaussians})

    def sample_coefficients(self, jet_type: str, n: int, seed: int, pt: np.ndarray | None = None) -> np.ndarray:
        """``[n, k]`` coefficients of jets of ``jet_type`` (pTs ``[n]`` pick the bins; seeded)."""
        if jet_type not in self.jet_types:
            raise ConfigError(f"no Gaussian for jet type '{jet_type}' (have {self.jet_types})")
        rng = np.random.default_rng(seed)
        bins = self._bin(np.zeros(n) if pt is None else np.asarray(pt, dtype=np.float64))
        k = len(self.pca._ready()[0])
        out = np.empty((n, k))
        for b in np.unique(bins):
            g = self.gaussians.get((jet_type, int(b)))
            if g is None:  # empty pT bin in training: fall back to the nearest fitted bin of the type
                have = [bb for t, bb in self.gaussians if t == jet_type]
                g = self.gaussians[(jet_type, min(have, key=lambda bb: abs(bb - int(b))))]
            sel = bins == b
            out[sel] = rng.multivariate_normal(g.mean, g.cov, size=int(sel.sum()), method="eigh")
        return out

    def sample(self, jet_type: str, n: int, seed: int, pt: np.ndarray | None = None) -> list[Hits]:
        """``n`` generated jets of ``jet_type`` as snapped :class:`Hits` (seeded)."""
        return self.pca.decode(self.sample_coefficients(jet_type, n, seed, pt), self.normalisation)


def jet_type_names(labels: np.ndarray, names: Mapping[int, str] = JET_TYPES) -> np.ndarray:
    """Jet labels ``y [n]`` (1 top, 0 QCD) -> type names ``[n]``."""
    y = np.rint(np.asarray(labels, dtype=np.float64)).astype(np.int64)
    bad = ~np.isin(y, list(names))
    if bad.any():
        raise InvalidInput(f"jet {int(np.argmax(bad))}: label {y[bad][0]} is not one of {sorted(names)}", field="y",
                           row=int(np.argmax(bad)))
    return np.array([names[int(v)] for v in y])


__all__ = ["GaussianPCAGenerator", "JET_TYPES", "LatentOnlyPCA", "NODE_DIM", "NODE_VECTOR", "decoded_hits",
           "jet_type_names", "node_vectors", "vector_to_hits"]
