"""Events: a chunk of jets as jet images plus per-jet scalars (the in-memory form every
reader yields and every writer takes)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gvae import geometry

#: Scalar per-jet columns, in the order they are written. ``y`` is the label (1 = top, 0 = QCD).
SCALARS: tuple[str, ...] = ("pt", "m0", "y", "eta", "phi", "ieta", "iphi")
#: Scalars every file format must provide; the others default to "unknown" (NaN / -1).
REQUIRED_SCALARS: tuple[str, ...] = ("pt", "m0", "y")
SCALAR_DTYPES: dict[str, type] = {
    "pt": np.float32, "m0": np.float32, "y": np.float32, "eta": np.float32,
    "phi": np.float32, "ieta": np.int32, "iphi": np.int32,
}


@dataclass
class JetBatch:
    """``n`` jets.

    images: float32 ``[n, 3, 125, 125]``, channel order [track pT, ECAL, HCAL] in GeV, HCAL in the
        end-to-end convention (each of a tower's 5 x 5 pixels holds tower energy / 25).
    pt, m0: jet pT and mass in GeV. Generated jets: the generator-level jet (anti-kt R = 0.8 on
        the visible final-state particles of the hard event; pile-up and detector not included).
        CMS end-to-end files: the reconstructed jet. Delphes-converted jets: see :mod:`gvae.data.delphes`.
    y: label, 1.0 for a top jet, 0.0 for QCD, -1.0 unknown (e.g. jets converted from Delphes without
        ``--match-top``; :data:`gvae.data.delphes.UNKNOWN_LABEL`).
    eta, phi: jet axis; NaN where unknown.
    ieta, iphi: crystal indices of the window centre: the hottest HCAL tower within dR < 0.4 of the
        jet axis for generated jets (the end-to-end convention), else the jet axis
        (eta / 0.0174 and phi / 0.0174, rounded); -1 where unknown.
    source, first_row: the file the chunk came from and the row index of its first jet, so that
        errors and reports can name events.
    """

    images: np.ndarray
    pt: np.ndarray
    m0: np.ndarray
    y: np.ndarray
    eta: np.ndarray = field(default=None)  # type: ignore[assignment]
    phi: np.ndarray = field(default=None)  # type: ignore[assignment]
    ieta: np.ndarray = field(default=None)  # type: ignore[assignment]
    iphi: np.ndarray = field(default=None)  # type: ignore[assignment]
    source: str = "<memory>"
    first_row: int = 0

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.eta is None:
            self.eta = np.full(n, np.nan, np.float32)
        if self.phi is None:
            self.phi = np.full(n, np.nan, np.float32)
        if self.ieta is None:
            self.ieta = np.full(n, -1, np.int32)
        if self.iphi is None:
            self.iphi = np.full(n, -1, np.int32)
        self.images = np.ascontiguousarray(self.images, dtype=np.float32)
        expected = (n, geometry.N_CHANNELS, geometry.IMAGE_SIZE, geometry.IMAGE_SIZE)
        if self.images.shape != expected:
            raise ValueError(f"images must have shape {expected}, got {self.images.shape}")
        for name in SCALARS:
            arr = np.asarray(getattr(self, name), dtype=SCALAR_DTYPES[name])
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
            setattr(self, name, arr)

    def __len__(self) -> int:
        return len(self.images)

    def scalars(self) -> dict[str, np.ndarray]:
        """The per-jet scalar columns by name."""
        return {name: getattr(self, name) for name in SCALARS}

    def slice(self, start: int, stop: int) -> "JetBatch":
        """Jets ``start:stop`` as a new batch (views, no copy)."""
        return JetBatch(self.images[start:stop], **{k: v[start:stop] for k, v in self.scalars().items()},
                        source=self.source, first_row=self.first_row + start)

    @staticmethod
    def concatenate(batches: list["JetBatch"]) -> "JetBatch":
        """Join batches in order (the result names the first batch's source)."""
        if not batches:
            raise ValueError("cannot concatenate an empty list of JetBatch")
        return JetBatch(np.concatenate([b.images for b in batches]),
                        **{k: np.concatenate([getattr(b, k) for b in batches]) for k in SCALARS},
                        source=batches[0].source, first_row=batches[0].first_row)


# --------------------------------------------------------------------------------------------
# Hits: the one per-jet hit type, a flat batch of them, and the one place that paints hits

class Hits:
    """The hits of one jet as parallel arrays of length ``n`` (any order).

    channel: int ``[n]`` in {0 track, 1 ECAL, 2 HCAL}.
    ieta, iphi: int ``[n]`` pixel indices (HCAL: any pixel of the tower; the hit files store the
        tower's centre pixel ``5 t + 2``), or None for points off the pixel grid (reconstructions).
    energy: float ``[n]`` GeV (the track channel holds track pT); float32 from files and the
        detector, float64 in the evaluation.
    x, y: float64 ``[n]`` eta / phi offsets from the jet axis; computed from the pixels
        (``(i - 62) * 0.0174`` in float64) when not given.

    ``Hits(channel, ieta, iphi, energy)`` stores the arrays as given (the graph builder validates
    them); :meth:`at` builds validated float64 points from ``(x, y, energy, channel)``.
    """

    __slots__ = ("channel", "ieta", "iphi", "energy", "_x", "_y")

    def __init__(self, channel: np.ndarray, ieta: np.ndarray | None, iphi: np.ndarray | None,
                 energy: np.ndarray, *, x: np.ndarray | None = None, y: np.ndarray | None = None) -> None:
        self.channel, self.ieta, self.iphi, self.energy = channel, ieta, iphi, energy
        self._x, self._y = x, y

    @classmethod
    def at(cls, x: np.ndarray, y: np.ndarray, energy: np.ndarray, channel: np.ndarray) -> "Hits":
        """Points at physical ``(x, y)``: float64 x, y, energy and int64 channel ``[n]``.

        Raises :class:`gvae.errors.InvalidInput` (naming the field) for arrays of different lengths,
        non-finite coordinates, non-finite or negative energies, or channels outside {0, 1, 2}.
        """
        from gvae.errors import InvalidInput

        n = len(energy)
        arrays = {}
        for name, values in (("x", x), ("y", y), ("energy", energy), ("channel", channel)):
            arr = np.asarray(values, dtype=np.int64 if name == "channel" else np.float64)
            if arr.shape != (n,):
                raise InvalidInput(f"hit arrays must all have shape ({n},), got {arr.shape}", field=name)
            arrays[name] = arr
        if not (np.all(np.isfinite(arrays["x"])) and np.all(np.isfinite(arrays["y"]))):
            raise InvalidInput("hit coordinates must be finite", field="x/y")
        if not np.all(np.isfinite(arrays["energy"])) or np.any(arrays["energy"] < 0):
            raise InvalidInput("hit energies must be finite and >= 0", field="energy")
        if n and (arrays["channel"].min() < 0 or arrays["channel"].max() >= geometry.N_CHANNELS):
            raise InvalidInput(f"hit channels must be in [0, {geometry.N_CHANNELS})", field="channel")
        return cls(arrays["channel"], None, None, arrays["energy"], x=arrays["x"], y=arrays["y"])

    @property
    def x(self) -> np.ndarray:
        """float64 ``[n]`` eta offsets from the jet axis."""
        if self._x is None:
            self._x = (np.asarray(self.ieta, np.float64) - geometry.CENTRE_PIXEL) * geometry.PIXEL_SIZE
        return self._x

    @property
    def y(self) -> np.ndarray:
        """float64 ``[n]`` phi offsets from the jet axis."""
        if self._y is None:
            self._y = (np.asarray(self.iphi, np.float64) - geometry.CENTRE_PIXEL) * geometry.PIXEL_SIZE
        return self._y

    @property
    def coords(self) -> np.ndarray:
        """float64 ``[n, 2]`` (x, y)."""
        return np.stack([self.x, self.y], axis=1)

    def __len__(self) -> int:
        return len(self.energy)

    def __repr__(self) -> str:
        return f"Hits(n={len(self)}, on_grid={self.ieta is not None})"

    def select(self, channel: int | None) -> "Hits":
        """The hits of one channel (``None``: all of them)."""
        if channel is None:
            return self
        keep = np.asarray(self.channel) == channel
        pick = (lambda a: None if a is None else np.asarray(a)[keep])
        return Hits(pick(self.channel), pick(self.ieta), pick(self.iphi), pick(self.energy),
                    x=pick(self._x), y=pick(self._y))


@dataclass
class HitBatch:
    """The hits of ``n`` jets, flat and grouped by jet (the form the hit files store).

    jet: int64 ``[H]`` jet index in the batch, sorted; channel: uint8/int ``[H]``; ieta, iphi:
    uint16/int ``[H]`` pixels (HCAL: the tower's centre pixel ``5 t + 2`` in files); energy:
    float32 ``[H]`` GeV (HCAL: tower energy); counts: int64 ``[n]`` hits per jet. ``scalars``: the
    per-jet columns of :data:`SCALARS` (``[n]`` each) where the batch came from a file; ``source``,
    ``first_row``: as in :class:`JetBatch`.
    """

    jet: np.ndarray
    channel: np.ndarray
    ieta: np.ndarray
    iphi: np.ndarray
    energy: np.ndarray
    counts: np.ndarray
    scalars: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "<memory>"
    first_row: int = 0

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``[n + 1]``: jet ``b`` holds hits ``offsets[b]:offsets[b + 1]``."""
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def jet_hits(self, b: int) -> Hits:
        """The hits of jet ``b`` (views)."""
        o = self.offsets
        s = slice(int(o[b]), int(o[b + 1]))
        return Hits(self.channel[s], self.ieta[s], self.iphi[s], self.energy[s])

    def images(self, dtype: type = np.float32) -> np.ndarray:
        """The jets painted as images ``[n, 3, 125, 125]`` (see :func:`paint`)."""
        return paint(len(self), self.jet, self.channel, self.ieta, self.iphi, self.energy, dtype)


def towers_to_pixels(towers: np.ndarray) -> np.ndarray:
    """HCAL towers ``[..., 25, 25]`` -> pixels ``[..., 125, 125]``, each pixel = tower / 25 (the
    end-to-end convention), computed in the dtype of ``towers``."""
    t = geometry.HCAL_TOWER_PIXELS
    return np.repeat(np.repeat(towers / (t * t), t, axis=-2), t, axis=-1)


def paint(n_jets: int, jet: np.ndarray, channel: np.ndarray, ieta: np.ndarray, iphi: np.ndarray,
          energy: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Paint hits into images ``[n_jets, 3, 125, 125]`` of ``dtype`` (the one painter).

    jet, channel, ieta, iphi: int ``[H]`` (inside the window; callers validate or filter);
    energy: float ``[H]``. Track/ECAL hits add their energy (cast to ``dtype``) to their pixel in
    input order. HCAL hits are summed per tower in float64, the tower sums cast to ``dtype``, and
    each tower spread as energy / 25 over its 5 x 5 pixels (:func:`towers_to_pixels`).
    """
    size, t, nt = geometry.IMAGE_SIZE, geometry.HCAL_TOWER_PIXELS, geometry.N_TOWERS
    jet = np.asarray(jet, np.int64)
    channel = np.asarray(channel).astype(np.int64)
    ieta = np.asarray(ieta).astype(np.int64)
    iphi = np.asarray(iphi).astype(np.int64)
    energy = np.asarray(energy, dtype)
    images = np.zeros((n_jets, geometry.N_CHANNELS, size, size), dtype)
    pix = channel != geometry.HCAL
    np.add.at(images, (jet[pix], channel[pix], ieta[pix], iphi[pix]), energy[pix])
    hc = ~pix
    if hc.any():
        towers = np.zeros((n_jets, nt, nt), np.float64)
        np.add.at(towers, (jet[hc], ieta[hc] // t, iphi[hc] // t), energy[hc])
        images[:, geometry.HCAL] = towers_to_pixels(towers.astype(dtype).astype(np.float64)).astype(dtype)
    return images
