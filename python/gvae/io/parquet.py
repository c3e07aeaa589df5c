"""Parquet in the CMS end-to-end schema.

One row per jet and one row group per jet (as in the CMS open-data end-to-end files):

=========  ===================================  ==========================================
column     type                                 meaning
=========  ===================================  ==========================================
X_jets     list<list<list<float32>>> (3,125,125)  image [channel, ieta, iphi], HCAL as 5x5
                                                  blocks of tower energy / 25
pt, m0, y  float32                              jet pT, mass (GeV), label (1 top, 0 QCD)
eta, phi   float32                              jet axis (NaN = unknown)
ieta, iphi int32                                crystal indices of the window centre (-1 = unknown)
=========  ===================================  ==========================================

Meaning of the jet columns. In files made by ``gvae.data generate``: ``pt``, ``m0``, ``eta``, ``phi``
are those of the **generator-level** jet (anti-kt R = 0.8 on the visible final-state particles of
the hard event: no pile-up, no detector response); the image is centred on the most energetic
HCAL tower within dR < 0.4 of that jet's axis (``ieta``/``iphi`` = the window centre; the jet
axis is ``round(eta / 0.0174)`` etc., a whole number of towers away) unless generated with
``--no-centre``. In the CMS end-to-end open-data files they are the reconstructed jet's values.

Reading accepts the variants found in real files: float64 values (cast to float32), ``large_list``
nesting, any row-group size, extra columns (ignored) and missing optional columns. ``X_jets``,
``pt``, ``m0`` and ``y`` are required. The images are decoded without per-row Python objects: the
nested lists are flattened to one numpy buffer and their lengths checked level by level.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gvae.errors import CorruptFileError, InvalidInput, SchemaError
from gvae.io._common import (C, N, REQUIRED_SCALARS, Reader, Writer, empty_batch, scalar_or_default,
                             validate_batch)
from gvae.jets import SCALAR_DTYPES, SCALARS, JetBatch

IMAGE_COLUMN = "X_jets"
#: Parquet compression codec for written files (fast to decode; the images are ~98% zeros).
COMPRESSION = "snappy"
_MAX_JETS_PER_TABLE = 4096
_ARROW_TYPES = {np.float32: pa.float32(), np.int32: pa.int32()}
SCHEMA = pa.schema([(IMAGE_COLUMN, pa.list_(pa.list_(pa.list_(pa.float32()))))]
                   + [(name, _ARROW_TYPES[SCALAR_DTYPES[name]]) for name in SCALARS])


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


class ParquetReader(Reader):
    """Jets from an end-to-end parquet file, streamed by row groups."""

    format = "parquet"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        try:
            self._file = pq.ParquetFile(path, pre_buffer=True)  # coalesces the reads of small row groups
            meta = self._file.metadata
            schema = self._file.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise CorruptFileError(f"cannot read the parquet footer/metadata ({exc})", file=path) from exc
        self._check_schema(schema)
        rows = np.array([meta.row_group(i).num_rows for i in range(meta.num_row_groups)], np.int64)
        self._rg_start = np.concatenate([[0], np.cumsum(rows)])
        self._n = int(meta.num_rows)
        self._cache: tuple[int, pa.Table] | None = None  # last row group read (for big row groups)

    def _check_schema(self, schema: pa.Schema) -> None:
        names = set(schema.names)
        for name in (IMAGE_COLUMN, *REQUIRED_SCALARS):
            if name not in names:
                raise SchemaError(f"required column is missing (columns: {', '.join(schema.names)})",
                                  file=self.path, field=name)
        t = schema.field(IMAGE_COLUMN).type
        depth = 0
        while _is_list(t) and depth < 3:
            t, depth = t.value_type, depth + 1
        if depth != 3 or not (pa.types.is_floating(t) or pa.types.is_integer(t)):
            raise SchemaError(f"expected list<list<list<float32>>> of shape (3, 125, 125), got "
                              f"{schema.field(IMAGE_COLUMN).type}", file=self.path, field=IMAGE_COLUMN)
        for name in SCALARS:
            if name in names and not _is_number(schema.field(name).type):
                raise SchemaError(f"expected a numeric column, got {schema.field(name).type}",
                                  file=self.path, field=name)
        self._columns = [IMAGE_COLUMN, *(s for s in SCALARS if s in names)]
        self._all_columns = list(schema.names)

    def __len__(self) -> int:
        return self._n

    def columns(self) -> list[str]:
        return list(self._all_columns)

    def _read_groups(self, first: int, last: int) -> pa.Table:
        """Row groups ``first:last`` as one table (reuses the last row group read before)."""
        tables = []
        if self._cache is not None and self._cache[0] == first:
            tables.append(self._cache[1])
            first += 1
        if first < last:
            try:
                tables.append(self._file.read_row_groups(list(range(first, last)), columns=self._columns))
            except (pa.ArrowException, OSError) as exc:
                bad = self._first_bad_group(first, last)
                raise CorruptFileError(
                    f"cannot decode row group {bad} (rows {self._rg_start[bad]}..{self._rg_start[bad + 1] - 1}): "
                    f"{exc}", file=self.path, row=int(self._rg_start[bad])) from exc
            self._cache = (last - 1, tables[-1].slice(self._rg_start[last - 1] - self._rg_start[first]))
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def _first_bad_group(self, first: int, last: int) -> int:
        """The first row group of ``first:last`` that fails to decode (``first`` if none does alone)."""
        for i in range(first, last):
            try:
                self._file.read_row_group(i, columns=self._columns)
            except (pa.ArrowException, OSError):
                return i
        return first

    def read(self, start: int, stop: int) -> JetBatch:
        n = stop - start
        if n <= 0:
            return empty_batch(self.path, start)
        first = int(np.searchsorted(self._rg_start, start, side="right") - 1)
        last = int(np.searchsorted(self._rg_start, stop, side="left"))
        table = self._read_groups(first, last)
        table = table.slice(start - int(self._rg_start[first]), n)
        images = np.empty((n, C, N, N), np.float32)
        pos = 0
        for chunk in table.column(IMAGE_COLUMN).chunks:
            m = len(chunk)
            images[pos:pos + m] = self._decode_images(chunk, start + pos)
            pos += m
        scalars = {}
        for name in SCALARS:
            if name not in table.column_names:
                scalars[name] = scalar_or_default(name, None, n)
                continue
            col = table.column(name)
            if col.null_count:
                j = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
                raise InvalidInput("missing (null) value", file=self.path, row=start + j, field=name)
            scalars[name] = scalar_or_default(name, col.to_numpy(), n)
        batch = JetBatch(images, **scalars, source=self.path, first_row=start)
        validate_batch(batch, self.path)
        return batch

    def _decode_images(self, arr: pa.Array, first_row: int) -> np.ndarray:
        """Flatten one ``X_jets`` chunk of ``m`` rows to float32 ``[m, 3, 125, 125]``.

        Checks, level by level, that no list is null and every list has the expected length; an
        error names the jet row and the position (``X_jets[c]`` or ``X_jets[c][ieta]``)."""
        m = len(arr)
        level = arr
        # (expected length, lists per jet at this level, how to name the position)
        for depth, expected in enumerate((C, N, N)):
            per_jet = (1, C, C * N)[depth]
            if level.null_count:
                k = int(np.flatnonzero(level.is_null().to_numpy(zero_copy_only=False))[0])
                raise SchemaError(f"null list at {self._where(k, depth)}", file=self.path,
                                  row=first_row + k // per_jet, field=IMAGE_COLUMN)
            if pa.types.is_fixed_size_list(level.type):
                lengths = np.full(len(level), level.type.list_size)
            else:
                lengths = level.value_lengths().to_numpy(zero_copy_only=False)
            bad = np.flatnonzero(lengths != expected)
            if len(bad):
                k = int(bad[0])
                raise SchemaError(f"{self._where(k, depth)} has {int(lengths[k])} values, expected "
                                  f"{expected} (X_jets must have shape (3, 125, 125))", file=self.path,
                                  row=first_row + k // per_jet, field=IMAGE_COLUMN)
            level = level.flatten()
        if level.null_count:
            k = int(np.flatnonzero(level.is_null().to_numpy(zero_copy_only=False))[0])
            raise InvalidInput(f"null value at {self._where(k // N, 3)}[{k % N}]", file=self.path,
                               row=first_row + k // (C * N * N), field=IMAGE_COLUMN)
        values = level.to_numpy(zero_copy_only=False)
        return values.astype(np.float32, copy=False).reshape(m, C, N, N)

    @staticmethod
    def _where(k: int, depth: int) -> str:
        """Name list ``k`` of nesting level ``depth`` (0 = the jet, 1 = channel, 2 = channel row)."""
        if depth == 0:
            return "X_jets"
        if depth == 1:
            return f"X_jets[{k % C}]"
        return f"X_jets[{(k // N) % C}][{k % N}]"


class ParquetWriter(Writer):
    """Writes jets in the end-to-end schema, one row group per jet."""

    format = "parquet"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._writer = pq.ParquetWriter(path, SCHEMA, compression=COMPRESSION)

    def write(self, batch: JetBatch) -> None:
        # arrow list offsets are int32: keep each table well below 2**31 values
        for a in range(0, len(batch), _MAX_JETS_PER_TABLE):
            part = batch.slice(a, min(a + _MAX_JETS_PER_TABLE, len(batch)))
            self._writer.write_table(to_table(part), row_group_size=1)
            self.n_written += len(part)

    def close(self) -> None:
        self._writer.close()


def to_table(batch: JetBatch) -> pa.Table:
    """A JetBatch as an arrow table in :data:`SCHEMA` (no per-row Python objects)."""
    n = len(batch)
    values = pa.array(batch.images.reshape(-1), type=pa.float32())
    rows = pa.ListArray.from_arrays(pa.array(np.arange(0, n * C * N * N + 1, N, dtype=np.int32)), values)
    channels = pa.ListArray.from_arrays(pa.array(np.arange(0, n * C * N + 1, N, dtype=np.int32)), rows)
    jets = pa.ListArray.from_arrays(pa.array(np.arange(0, n * C + 1, C, dtype=np.int32)), channels)
    columns = [jets] + [pa.array(getattr(batch, name)) for name in SCALARS]
    return pa.Table.from_arrays(columns, schema=SCHEMA)

