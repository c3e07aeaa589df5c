"""One jet's hits in physical units: the common currency of the evaluation.

Original graphs (raw node features, DESIGN §4.6), GVAE reconstructions and baseline
reconstructions (normalised ``(x', y', u')`` inverted with DESIGN §5) all become
:class:`gvae.jets.Hits` points (float64 ``x, y, energy``, int64 ``channel``), so that the EMD, the
observables and the event displays treat them identically.
"""
from __future__ import annotations

import numpy as np

from gvae.jets import Hits


def hits_from_features(features: np.ndarray, mask: np.ndarray) -> Hits:
    """Raw graph node features -> hits.

    features: float ``[N, 4]`` = ``(x, y, energy, channel)`` (DESIGN §4.6); mask: bool ``[N]``.
    """
    f = np.asarray(features, dtype=np.float64)[np.asarray(mask, dtype=bool)]
    return Hits.at(f[:, 0], f[:, 1], f[:, 2], np.rint(f[:, 3]).astype(np.int64))


def hits_from_reconstruction(xyz: np.ndarray, channel: np.ndarray, mask: np.ndarray) -> Hits:
    """Physical reconstruction -> hits; each output node keeps its input node's channel.

    xyz: float ``[N, 3]`` = physical ``(x, y, energy)``; channel: ``[N]``; mask: bool ``[N]``.
    """
    m = np.asarray(mask, dtype=bool)
    r = np.asarray(xyz, dtype=np.float64)[m]
    return Hits.at(r[:, 0], r[:, 1], r[:, 2], np.rint(np.asarray(channel)[m]).astype(np.int64))
