"""HDF5 variant of the end-to-end files (h5py).

==========================  =====================  =========================================
dataset                     dtype / shape          meaning
==========================  =====================  =========================================
X_jets                      float32 [N,125,125,3]  images, channel-last (HCAL as in parquet)
pt, m0, y                   float32 [N]            jet pT, mass (GeV), label (generated files: the
                                                   generator-level jet; see gvae.io.parquet)
eta, phi                    float32 [N]            jet axis (NaN = unknown)
ieta, iphi                  int32 [N]              window-centre crystal indices (-1 = unknown)
==========================  =====================  =========================================

``X_jets`` is chunked by :data:`CHUNK_JETS` jets and gzip-compressed (level 1, with the shuffle
filter): a standard filter every HDF5 build reads. Reading slices the datasets, so a file larger
than memory streams. ``X_jets``, ``pt``, ``m0`` and ``y`` are required; float64 data is cast.
"""
from __future__ import annotations

import h5py
import numpy as np

from gvae.errors import CorruptFileError, SchemaError
from gvae.io._common import (C, N, REQUIRED_SCALARS, Reader, Writer, empty_batch, scalar_or_default,
                             validate_batch)
from gvae.jets import SCALAR_DTYPES, SCALARS, JetBatch

IMAGE_DATASET = "X_jets"
#: Jets per HDF5 chunk of ``X_jets`` (about 0.75 MB uncompressed).
CHUNK_JETS = 4
COMPRESSION = "gzip"
COMPRESSION_LEVEL = 1


class Hdf5Reader(Reader):
    """Jets from an HDF5 file, read in slices."""

    format = "hdf5"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        try:
            self._file = h5py.File(path, "r")
        except OSError as exc:
            raise CorruptFileError(f"cannot open as HDF5 ({exc})", file=path) from exc
        try:
            self._check_schema()
        except BaseException:
            self._file.close()
            raise

    def _check_schema(self) -> None:
        f = self._file
        for name in (IMAGE_DATASET, *REQUIRED_SCALARS):
            if name not in f:
                raise SchemaError(f"required dataset is missing (datasets: {', '.join(f.keys())})",
                                  file=self.path, field=name)
            if not isinstance(f[name], h5py.Dataset):
                raise SchemaError("expected a dataset, found a group", file=self.path, field=name)
        x = f[IMAGE_DATASET]
        if x.ndim != 4 or x.shape[1:] != (N, N, C):
            raise SchemaError(f"expected shape (N, {N}, {N}, {C}) (channel-last), got {x.shape}",
                              file=self.path, field=IMAGE_DATASET)
        if x.dtype.kind not in "fiu":
            raise SchemaError(f"expected float32 values, got {x.dtype}", file=self.path, field=IMAGE_DATASET)
        self._n = int(x.shape[0])
        self._scalars = []
        for name in SCALARS:
            if name not in f:
                continue
            d = f[name]
            if not isinstance(d, h5py.Dataset) or d.dtype.kind not in "fiub":
                raise SchemaError(f"expected a numeric dataset, got {getattr(d, 'dtype', 'a group')}",
                                  file=self.path, field=name)
            if d.shape != (self._n,):
                raise SchemaError(f"expected shape ({self._n},) like X_jets, got {d.shape}",
                                  file=self.path, field=name)
            self._scalars.append(name)

    def __len__(self) -> int:
        return self._n

    def columns(self) -> list[str]:
        return list(self._file.keys())

    def read(self, start: int, stop: int) -> JetBatch:
        n = stop - start
        if n <= 0:
            return empty_batch(self.path, start)
        name = IMAGE_DATASET
        try:
            x = self._file[name][start:stop]
            scalars = {}
            for name in SCALARS:
                values = self._file[name][start:stop] if name in self._scalars else None
                scalars[name] = scalar_or_default(name, values, n)
        except (OSError, ValueError, RuntimeError) as exc:
            row = self._first_bad_row(name, start, stop)
            raise CorruptFileError(f"cannot read the data of row {row} ({exc})", file=self.path,
                                   row=row, field=name) from exc
        images = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
        batch = JetBatch(images, **scalars, source=self.path, first_row=start)
        validate_batch(batch, self.path)
        return batch

    def _first_bad_row(self, name: str, start: int, stop: int) -> int:
        """The first row of ``start:stop`` of dataset ``name`` that cannot be read (``start`` if none)."""
        for row in range(start, stop):
            try:
                self._file[name][row]
            except (OSError, ValueError, RuntimeError):
                return row
        return start

    def close(self) -> None:
        self._file.close()


class Hdf5Writer(Writer):
    """Appends jets to resizable, chunked datasets."""

    format = "hdf5"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._file = h5py.File(path, "w")
        self._file.attrs["format"] = "gvae end-to-end jets"
        self._file.attrs["channels"] = "track,ecal,hcal"
        self._file.create_dataset(IMAGE_DATASET, shape=(0, N, N, C), maxshape=(None, N, N, C), dtype=np.float32,
                                  chunks=(CHUNK_JETS, N, N, C), compression=COMPRESSION,
                                  compression_opts=COMPRESSION_LEVEL, shuffle=True)
        for name in SCALARS:
            self._file.create_dataset(name, shape=(0,), maxshape=(None,), dtype=SCALAR_DTYPES[name],
                                      chunks=(1024,))

    def write(self, batch: JetBatch) -> None:
        n = len(batch)
        if n == 0:
            return
        a, b = self.n_written, self.n_written + n
        x = self._file[IMAGE_DATASET]
        x.resize(b, axis=0)
        x[a:b] = batch.images.transpose(0, 2, 3, 1)
        for name in SCALARS:
            d = self._file[name]
            d.resize(b, axis=0)
            d[a:b] = getattr(batch, name)
        self.n_written = b

    def close(self) -> None:
        self._file.close()
