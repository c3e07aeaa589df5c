"""One jet's hits in physical units: the common currency of the evaluation.

Original graphs (raw node features, DESIGN §4.6), GVAE reconstructions and baseline
reconstructions (normalised ``(x', y', u')`` inverted with DESIGN §5) all become :class:`Hits`, so
that the EMD, the observables and the event displays treat them identically.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gvae import geometry
from gvae.errors import InvalidInput


@dataclass(frozen=True)
class Hits:
    """Hits of one jet.

    x, y: float64 ``[n]`` eta and phi offsets from the jet axis (DESIGN §1 units: 0.0174 per pixel).
    energy: float64 ``[n]`` in GeV (the track channel holds track pT, as in the images).
    channel: int64 ``[n]`` in {0 track, 1 ECAL, 2 HCAL}.
    """

    x: np.ndarray
    y: np.ndarray
    energy: np.ndarray
    channel: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.energy)
        for name in ("x", "y", "energy", "channel"):
            arr = np.asarray(getattr(self, name), dtype=np.int64 if name == "channel" else np.float64)
            if arr.shape != (n,):
                raise InvalidInput(f"hit arrays must all have shape ({n},), got {arr.shape}", field=name)
            object.__setattr__(self, name, arr)
        if not (np.all(np.isfinite(self.x)) and np.all(np.isfinite(self.y))):
            raise InvalidInput("hit coordinates must be finite", field="x/y")
        if not np.all(np.isfinite(self.energy)) or np.any(self.energy < 0):
            raise InvalidInput("hit energies must be finite and >= 0", field="energy")
        if n and (self.channel.min() < 0 or self.channel.max() >= geometry.N_CHANNELS):
            raise InvalidInput(f"hit channels must be in [0, {geometry.N_CHANNELS})", field="channel")

    def __len__(self) -> int:
        return len(self.energy)

    @property
    def coords(self) -> np.ndarray:
        """float64 ``[n, 2]`` (x, y)."""
        return np.stack([self.x, self.y], axis=1)

    def select(self, channel: int | None) -> "Hits":
        """The hits of one channel (``None``: all of them)."""
        if channel is None:
            return self
        keep = self.channel == channel
        return Hits(self.x[keep], self.y[keep], self.energy[keep], self.channel[keep])


def hits_from_features(features: np.ndarray, mask: np.ndarray) -> Hits:
    """Raw graph node features -> hits.

    features: float ``[N, 4]`` = ``(x, y, energy, channel)`` (DESIGN §4.6); mask: bool ``[N]``.
    """
    f = np.asarray(features, dtype=np.float64)[np.asarray(mask, dtype=bool)]
    return Hits(f[:, 0], f[:, 1], f[:, 2], np.rint(f[:, 3]).astype(np.int64))


def hits_from_reconstruction(xyz: np.ndarray, channel: np.ndarray, mask: np.ndarray) -> Hits:
    """Physical reconstruction -> hits; each output node keeps its input node's channel.

    xyz: float ``[N, 3]`` = physical ``(x, y, energy)``; channel: ``[N]``; mask: bool ``[N]``.
    """
    m = np.asarray(mask, dtype=bool)
    r = np.asarray(xyz, dtype=np.float64)[m]
    return Hits(r[:, 0], r[:, 1], r[:, 2], np.rint(np.asarray(channel)[m]).astype(np.int64))
