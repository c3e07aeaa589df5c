"""Reconstruction baselines at a given latent size, model-independent (issue 14, point 5):

* ``latent_only_pca``: :class:`gvae.evaluate.latent_pca.LatentOnlyPCA`: ``k`` numbers per jet, decoded
  without the true mask or channel and snapped to the detector (an honest compressor);
* ``true_mask_pca``: :class:`gvae.evaluate.baseline.PCABaseline`, the PCA of today's report, which is
  GIVEN each jet's true node mask and channels at decoding (so it is not a ``k``-number compressor).

Both are fitted on the training jets and scored on the test jets against the original graph nodes:
EMD per channel and all channels (median, q16, q84 and the rest of
:func:`gvae.evaluate.observables.summary`), and count, energy and mass responses
(:func:`gvae.evaluate.observables.compare`).

Jets come as graph arrays, the form of :meth:`gvae.graphs.shards.GraphShards.arrays` and
:func:`gvae.graphs.build.build_graphs`: ``{"features": [n, N, 4] (x, y, E, channel), "mask": [n, N]}``
(numpy arrays or torch tensors), optionally with ``"y"`` (label) and ``"pt"`` ``[n]``.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from gvae.errors import ConfigError, InvalidInput
from gvae.evaluate.baseline import PCABaseline
from gvae.evaluate.emd import DEFAULT_R, EMD_CHANNELS, batch_emds
from gvae.evaluate.hits import hits_from_features, hits_from_reconstruction
from gvae.jets import Hits
from gvae.evaluate.latent_pca import MAX_NODE_ENERGY, LatentOnlyPCA
from gvae.evaluate.observables import DEFAULT_THRESHOLD, OBSERVABLES, compare, observables_table, summary
from gvae.graphs.normalisation import Normalisation

log = logging.getLogger(__name__)

#: Names and report labels of the two baselines.
BASELINES: dict[str, str] = {
    "latent_only_pca": "PCA, latent only (no true mask/channel)",
    "true_mask_pca": "PCA given the true mask and channel",
}

GraphArrays = Mapping[str, Any]


def _arrays(jets: GraphArrays, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        f = torch.as_tensor(jets["features"]).detach().cpu().numpy()
        m = torch.as_tensor(jets["mask"]).detach().cpu().numpy().astype(bool)
    except KeyError as exc:
        raise InvalidInput(f"{name}: graph arrays need 'features' and 'mask'", field=str(exc)) from exc
    if f.ndim != 3 or f.shape[2] != 4 or m.shape != f.shape[:2]:
        raise InvalidInput(f"{name}: expected features [n, N, 4] and mask [n, N], got {f.shape} and {m.shape}",
                           field="features")
    return f, m


def _batches(features: np.ndarray, mask: np.ndarray, norm: Normalisation, batch_size: int
             ) -> Iterator[tuple[slice, torch.Tensor, torch.Tensor]]:
    for i in range(0, len(features), batch_size):
        s = slice(i, i + batch_size)
        m = torch.as_tensor(mask[s])
        yield s, norm.apply(torch.as_tensor(features[s]), m), m


def fit_latent_only_pca(features: np.ndarray, mask: np.ndarray, norm: Normalisation, k: int,
                        batch_size: int = 256) -> LatentOnlyPCA:
    """Fit :class:`LatentOnlyPCA` with ``k`` components on raw graph features ``[n, N, 4]``, mask ``[n, N]``."""
    pca = LatentOnlyPCA(k)
    for _, f6, m in _batches(features, mask, norm, batch_size):
        pca.partial_fit(f6, m)
    return pca.finish()


def fit_true_mask_pca(features: np.ndarray, mask: np.ndarray, norm: Normalisation, k: int,
                      batch_size: int = 256) -> PCABaseline:
    """Fit today's :class:`PCABaseline` (``x', y', u'`` only) with ``k`` components."""
    pca = PCABaseline(k)
    for _, f6, m in _batches(features, mask, norm, batch_size):
        pca.partial_fit(f6[..., :3], m)
    return pca.finish()


def _summaries(originals: list[Hits], recos: list[Hits], emds: np.ndarray, threshold: float) -> dict[str, Any]:
    t_o = observables_table(originals, None, threshold)
    t_r = observables_table(recos, None, threshold)
    return {"emd": {c: summary(emds[:, i]) for i, c in enumerate(EMD_CHANNELS)},
            "observables": {name: compare(t_o[name], t_r[name]) for name in OBSERVABLES}}


def evaluate_reconstruction_baselines(train: GraphArrays, test: GraphArrays, latent_size: int,
                                      normalisation: Normalisation | None = None, emd_R: float = DEFAULT_R,
                                      workers: int = 1, hit_threshold: float = DEFAULT_THRESHOLD,
                                      batch_size: int = 256) -> dict[str, Any]:
    """Fit both PCA baselines with ``latent_size`` components on ``train`` and score them on ``test``.

    train, test: graph arrays (module docstring), raw features ``[n, N, 4]`` and mask ``[n, N]``, the same N.
    normalisation: as the model's inputs; ``None`` computes it from the training jets.
    Returns ``{"latent_size", "n_train", "n_test", "baselines": {name: {"label", "summary", "emd":
    {channel: summary}, "observables": {name: compare}}}, "emd_per_jet": {name: float64 [n_test, 4]},
    "hits": {"original" | name: list[Hits]}, "timing_s"}`` (the last three for plots and tests;
    drop them before writing JSON).
    """
    if latent_size < 1:
        raise ConfigError(f"latent_size must be >= 1, got {latent_size}")
    f_tr, m_tr = _arrays(train, "train")
    f_te, m_te = _arrays(test, "test")
    if f_tr.shape[1] != f_te.shape[1]:
        raise InvalidInput(f"train has {f_tr.shape[1]} node slots, test {f_te.shape[1]}", field="features")
    norm = normalisation or Normalisation.compute(f_tr, m_tr)
    timing: dict[str, float] = {}
    t = time.perf_counter()
    lo = fit_latent_only_pca(f_tr, m_tr, norm, latent_size, batch_size)
    tm = fit_true_mask_pca(f_tr, m_tr, norm, latent_size, batch_size)
    timing["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    originals = [hits_from_features(f_te[j], m_te[j]) for j in range(len(f_te))]
    recos: dict[str, list[Hits]] = {"latent_only_pca": [], "true_mask_pca": []}
    u_max = (math.log(MAX_NODE_ENERGY) - norm.mean_u) / norm.std_u
    for s, f6, m in _batches(f_te, m_te, norm, batch_size):
        recos["latent_only_pca"] += lo.reconstruct_hits(f6, m, norm)
        out = tm.reconstruct(f6[..., :3], m)
        out[..., 2] = np.minimum(out[..., 2], u_max)  # as gvae.evaluate.run: exp() must not overflow
        phys = np.asarray(norm.invert(out, m.numpy()), dtype=np.float64)
        raw = f_te[s]
        recos["true_mask_pca"] += [hits_from_reconstruction(phys[j], raw[j, :, 3], m_te[s][j]) for j in range(len(raw))]
    timing["reconstruct"] = time.perf_counter() - t
    t = time.perf_counter()
    emds = {name: batch_emds(originals, r, emd_R, workers, desc=f"EMD {name}") for name, r in recos.items()}
    timing["emd"] = time.perf_counter() - t
    baselines = {name: {"label": BASELINES[name], "summary": pca.summary(),
                        **_summaries(originals, recos[name], emds[name], hit_threshold)}
                 for name, pca in (("latent_only_pca", lo), ("true_mask_pca", tm))}
    return {"latent_size": int(latent_size), "n_train": len(f_tr), "n_test": len(f_te), "emd_R": emd_R,
            "hit_threshold_gev": hit_threshold, "baselines": baselines, "emd_per_jet": emds,
            "hits": {"original": originals, **recos}, "models": {"latent_only_pca": lo, "true_mask_pca": tm},
            "normalisation": norm, "timing_s": timing}
