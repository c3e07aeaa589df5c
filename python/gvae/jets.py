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
        CMS end-to-end files: the reconstructed jet.
    y: label, 1.0 for a top jet, 0.0 for QCD.
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
