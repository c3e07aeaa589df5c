"""Shared pieces of the format modules: the reader/writer interfaces, value validation, chunk
ranges, and the image <-> hits conversion used by the hit formats (``.root``, ``.gvh``)."""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from gvae import geometry
from gvae.errors import DataError, FormatError, InvalidInput
from gvae.jets import REQUIRED_SCALARS, SCALARS, HitBatch, JetBatch, paint

N, C = geometry.IMAGE_SIZE, geometry.N_CHANNELS
T = geometry.HCAL_TOWER_PIXELS
N_TOWERS = geometry.N_TOWERS
#: Pixels in one image (all channels).
IMAGE_VALUES = C * N * N
OPTIONAL_SCALARS: tuple[str, ...] = tuple(s for s in SCALARS if s not in REQUIRED_SCALARS)


@dataclass
class FileInfo:
    """What :func:`gvae.io.describe` reports about a file."""

    path: str
    format: str
    n_jets: int
    columns: list[str]
    size_bytes: int

    def as_dict(self) -> dict:
        """A JSON-friendly dict."""
        return {"path": self.path, "format": self.format, "n_jets": self.n_jets,
                "columns": list(self.columns), "size_bytes": self.size_bytes}


class Reader(ABC):
    """A file opened for reading jets. Subclasses validate the schema on open."""

    format: str = ""

    def __init__(self, path: str) -> None:
        self.path = path

    @abstractmethod
    def __len__(self) -> int:
        """Number of jets in the file."""

    @abstractmethod
    def columns(self) -> list[str]:
        """Names of the columns / datasets / branches / fields in the file."""

    @abstractmethod
    def read(self, start: int, stop: int) -> JetBatch:
        """Jets ``start:stop`` (``0 <= start <= stop <= len``) as one batch."""

    def iter(self, chunk_size: int, start: int, stop: int) -> Iterator[JetBatch]:
        """Jets ``start:stop`` in chunks of at most ``chunk_size`` (override to stream smarter)."""
        for a in range(start, stop, chunk_size):
            yield self.read(a, min(a + chunk_size, stop))

    def iter_hits(self, chunk_size: int, start: int, stop: int) -> Iterator[HitBatch]:
        """Jets ``start:stop`` as flat hits in chunks (hit formats only: ``.gvh``, ``.root``)."""
        raise FormatError(f"{self.format} files store images, not hits; read them with iter_jets",
                          file=self.path)

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Writer(ABC):
    """A file being written, one :class:`JetBatch` chunk at a time."""

    format: str = ""

    def __init__(self, path: str) -> None:
        self.path = path
        self.n_written = 0

    @abstractmethod
    def write(self, batch: JetBatch) -> None:
        """Append the jets of ``batch``."""

    @abstractmethod
    def close(self) -> None:
        """Finish the file (flush, write trailers / header counts)."""

    def abort(self) -> None:
        """Give up: release the file without finishing it (the caller removes it)."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the file is discarded anyway
            pass


def empty_batch(source: str, first_row: int = 0) -> JetBatch:
    """A batch of zero jets."""
    z = np.zeros(0, np.float32)
    return JetBatch(np.zeros((0, C, N, N), np.float32), z, z, z, source=source, first_row=first_row)


def scalar_or_default(name: str, values: np.ndarray | None, n: int) -> np.ndarray:
    """``values`` cast to the JetBatch dtype of ``name``, or the "unknown" default."""
    from gvae.jets import SCALAR_DTYPES

    dtype = SCALAR_DTYPES[name]
    if values is None:
        return np.full(n, -1 if np.issubdtype(dtype, np.integer) else np.nan, dtype)
    return np.asarray(values).astype(dtype, copy=False)


def validate_batch(batch: JetBatch, file: str) -> None:
    """Reject NaN/Inf or negative image values and non-finite ``pt``, ``m0``, ``y``.

    Raises :class:`gvae.errors.InvalidInput` naming the file, the row (``batch.first_row`` + index)
    and the field (``X_jets[channel]`` or the scalar name). ``eta`` / ``phi`` may be NaN (unknown).
    """
    images = batch.images
    if images.size:
        bad = ~(images >= 0)  # catches NaN and negatives; +Inf caught below
        bad |= np.isinf(images)
        if bad.any():
            j, c, i, k = (int(v[0]) for v in np.nonzero(bad))
            value = float(images[j, c, i, k])
            what = "NaN" if np.isnan(value) else ("infinite" if np.isinf(value) else "negative")
            raise InvalidInput(
                f"{what} energy {value!r} at pixel (ieta={i}, iphi={k}); energies must be finite and >= 0",
                file=file, row=batch.first_row + j, field=f"X_jets[{geometry.CHANNELS[c]}]")
    validate_scalars(batch.scalars(), file, batch.first_row)


def validate_scalars(scalars: dict[str, np.ndarray], file: str, first_row: int) -> None:
    """Reject non-finite ``pt``, ``m0``, ``y`` (``[n]`` each), naming file, row and field."""
    for name in REQUIRED_SCALARS:
        values = scalars[name]
        bad = ~np.isfinite(values)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise InvalidInput(f"value {float(values[j])!r} is not finite", file=file,
                               row=first_row + j, field=name)


def check_range(path: str, n_jets: int, start: int, stop: int | None) -> tuple[int, int]:
    """Clamp ``start:stop`` to the file (``stop=None`` = to the end); reject negative bounds."""
    if start < 0 or (stop is not None and stop < 0):
        raise DataError(f"start/stop must be >= 0, got start={start}, stop={stop}", file=path)
    stop = n_jets if stop is None else min(stop, n_jets)
    return min(start, stop), stop


# --------------------------------------------------------------------------------------------
# images <-> hits (the hit formats store track/ECAL pixels and one hit per HCAL tower)

def images_to_hits(images: np.ndarray) -> HitBatch:
    """Nonzero pixels of track and ECAL, plus one hit per nonzero HCAL tower.

    images: float32 ``[n, 3, 125, 125]`` (HCAL in the end-to-end convention: each tower pixel holds
    tower energy / 25). Tower energy = sum of its 25 pixels, accumulated in float64 and stored as
    float32 (the graph builder's rule), so a tower's energy is preserved exactly up to that cast.
    """
    n = len(images)
    jt, ct, it, pt = np.nonzero(images[:, :2])
    et = images[jt, ct, it, pt]
    towers = images[:, 2].reshape(n, N_TOWERS, T, N_TOWERS, T).sum(axis=(2, 4), dtype=np.float64)
    towers = towers.astype(np.float32)
    jh, th, ph = np.nonzero(towers)
    eh = towers[jh, th, ph]
    jet = np.concatenate([jt, jh])
    order = np.argsort(jet, kind="stable")  # per jet: track, ECAL (row-major), then HCAL towers
    channel = np.concatenate([ct.astype(np.uint8), np.full(len(jh), geometry.HCAL, np.uint8)])[order]
    ieta = np.concatenate([it, th * T + T // 2]).astype(np.uint16)[order]
    iphi = np.concatenate([pt, ph * T + T // 2]).astype(np.uint16)[order]
    energy = np.concatenate([et, eh]).astype(np.float32)[order]
    jet = jet[order]
    return HitBatch(jet, channel, ieta, iphi, energy, np.bincount(jet, minlength=n).astype(np.int64))


def check_hits(jet: np.ndarray, channel: np.ndarray, ieta: np.ndarray, iphi: np.ndarray, energy: np.ndarray,
               file: str, first_row: int,
               fields: tuple[str, str, str, str] = ("channel", "ieta", "iphi", "energy")) -> None:
    """Validate flat hits grouped by jet: channel in {0, 1, 2}, ``0 <= ieta, iphi < 125``, energy
    finite and >= 0.

    Raises :class:`gvae.errors.InvalidInput` naming file, row (``first_row`` + jet) and field;
    ``fields`` are the field names used in messages (``{ch}`` is replaced by the hit's channel name).
    ``jet`` int64 ``[H]`` must be sorted (hits grouped by jet).
    """
    jet = np.asarray(jet, np.int64)
    channel = np.asarray(channel)
    ieta = np.asarray(ieta).astype(np.int64)
    iphi = np.asarray(iphi).astype(np.int64)
    energy = np.asarray(energy, np.float32)
    checks = (
        (channel, (channel >= 0) & (channel < C), fields[0], "must be 0 (track), 1 (ECAL) or 2 (HCAL)"),
        (ieta, (ieta >= 0) & (ieta < N), fields[1], f"must be in [0, {N})"),
        (iphi, (iphi >= 0) & (iphi < N), fields[2], f"must be in [0, {N})"),
        (energy, np.isfinite(energy) & (energy >= 0), fields[3], "must be finite and >= 0"))
    for values, ok, field, rule in checks:
        if not ok.all():
            h = int(np.flatnonzero(~ok)[0])
            ch = int(channel[h])
            name = field.format(ch=geometry.CHANNELS[ch] if 0 <= ch < C else str(ch))
            raise InvalidInput(f"hit {h - int(np.searchsorted(jet, jet[h]))} of the jet: value "
                               f"{values[h].item()!r} {rule}", file=file, row=first_row + int(jet[h]),
                               field=name)


def hits_to_images(n_jets: int, jet: np.ndarray, channel: np.ndarray, ieta: np.ndarray,
                   iphi: np.ndarray, energy: np.ndarray, file: str, first_row: int,
                   fields: tuple[str, str, str, str] = ("channel", "ieta", "iphi", "energy")) -> np.ndarray:
    """Validate hits (:func:`check_hits`) and paint them into float32 images ``[n_jets, 3, 125, 125]``
    (:func:`gvae.jets.paint`: HCAL towers spread as energy / 25 over their 5 x 5 pixels)."""
    check_hits(jet, channel, ieta, iphi, energy, file, first_row, fields)
    return paint(n_jets, jet, channel, ieta, iphi, energy, np.float32)


def file_size(path: str) -> int:
    """Size of ``path`` in bytes."""
    return os.path.getsize(path)
