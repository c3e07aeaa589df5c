"""Jet files: one API over four formats (DESIGN.md section 3).

* ``.parquet``: CMS end-to-end schema, one row group per jet (:mod:`gvae.io.parquet`)
* ``.h5``: the same images channel-last (:mod:`gvae.io.hdf5`)
* ``.root``: TTree ``jets`` with jagged hits per channel (:mod:`gvae.io.root`)
* ``.gvh``: the gvae hits binary the C++ example reads (:mod:`gvae.io.gvh`)

The format comes from the extension and is verified against the magic bytes
(:mod:`gvae.io.detect`). Readers stream in chunks, so a file larger than memory works.

Errors (all :class:`gvae.errors.DataError`, naming file, row and field where known):
:class:`~gvae.errors.FormatError` unknown extension or magic bytes that disagree with it;
:class:`~gvae.errors.SchemaError` missing column/dataset/branch, wrong type or shape (e.g. an
``X_jets`` row of 124 values); :class:`~gvae.errors.CorruptFileError` truncated or undecodable
bytes; :class:`~gvae.errors.InvalidInput` values no later stage accepts: NaN/Inf or negative
energies, hit indices outside the window, non-finite ``pt``/``m0``/``y`` (``eta``/``phi`` may be
NaN = unknown). Writers check the same values before writing, so they never produce such files.

Hit formats (``.root``, ``.gvh``) store one HCAL hit per tower (the sum of its 25 pixels); images
read back from them hold tower energy / 25 in each pixel, equal to the original image to float32
rounding (1 ulp) when the 5 x 5 blocks were uniform (the end-to-end convention). Track and ECAL
pixels and everything in ``.parquet`` / ``.h5`` round-trip exactly.
"""
from __future__ import annotations

import logging
import os
from typing import Iterable, Iterator

from gvae.errors import DataError, FormatError
from gvae.io._common import FileInfo, Reader, Writer, check_range, empty_batch, validate_batch
from gvae.io.detect import FORMATS, detect_format, format_from_extension
from gvae.jets import HitBatch, JetBatch

__all__ = ["iter_jets", "read_jets", "count_jets", "JetWriter", "write_jets", "describe", "open_reader",
           "detect_format", "FORMATS", "FileInfo", "iter_hits", "stores_hits", "HIT_FORMATS"]

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 256


def _reader_class(fmt: str) -> type[Reader]:
    if fmt == "parquet":
        from gvae.io.parquet import ParquetReader
        return ParquetReader
    if fmt == "hdf5":
        from gvae.io.hdf5 import Hdf5Reader
        return Hdf5Reader
    if fmt == "root":
        from gvae.io.root import RootReader
        return RootReader
    from gvae.io.gvh import GvhReader
    return GvhReader


def _writer_class(fmt: str) -> type[Writer]:
    if fmt == "parquet":
        from gvae.io.parquet import ParquetWriter
        return ParquetWriter
    if fmt == "hdf5":
        from gvae.io.hdf5 import Hdf5Writer
        return Hdf5Writer
    if fmt == "root":
        from gvae.io.root import RootWriter
        return RootWriter
    from gvae.io.gvh import GvhWriter
    return GvhWriter


def open_reader(path: str | os.PathLike) -> Reader:
    """Open ``path`` for reading (format detected and verified, schema checked). Close it after use
    (it is a context manager)."""
    path = os.fspath(path)
    return _reader_class(detect_format(path))(path)


def iter_jets(path: str | os.PathLike, chunk_size: int = DEFAULT_CHUNK_SIZE, start: int = 0,
              stop: int | None = None) -> Iterator[JetBatch]:
    """Jets ``start:stop`` of ``path`` in :class:`JetBatch` chunks of at most ``chunk_size``.

    Each chunk's ``first_row`` is its row in the file. ``stop=None`` reads to the end; bounds
    past the end are clamped. Memory stays at about one chunk.
    """
    if chunk_size < 1:
        raise DataError(f"chunk_size must be >= 1, got {chunk_size}", file=os.fspath(path))
    reader = open_reader(path)  # open now: format/schema errors surface at the call
    try:
        a, b = check_range(reader.path, len(reader), start, stop)
    except BaseException:
        reader.close()
        raise
    return _iterate(reader, chunk_size, a, b)


def _iterate(reader: Reader, chunk_size: int, start: int, stop: int) -> Iterator[JetBatch]:
    with reader:
        yield from reader.iter(chunk_size, start, stop)


#: Formats that store hits (and give them straight to the graph builder via :func:`iter_hits`).
HIT_FORMATS: tuple[str, ...] = ("root", "gvh")


def stores_hits(path: str | os.PathLike) -> bool:
    """True when ``path`` is a hit format (``.root``, ``.gvh``; detected from the extension and magic)."""
    return detect_format(os.fspath(path)) in HIT_FORMATS


def iter_hits(path: str | os.PathLike, chunk_size: int = DEFAULT_CHUNK_SIZE, start: int = 0,
              stop: int | None = None) -> Iterator[HitBatch]:
    """Jets ``start:stop`` of a hit file (``.root``, ``.gvh``) as :class:`gvae.jets.HitBatch` chunks
    (validated hits and scalars, no images painted); same range rules as :func:`iter_jets`.
    Raises :class:`gvae.errors.FormatError` for image formats."""
    if chunk_size < 1:
        raise DataError(f"chunk_size must be >= 1, got {chunk_size}", file=os.fspath(path))
    reader = open_reader(path)
    try:
        if reader.format not in HIT_FORMATS:
            raise FormatError(f"{reader.format} files store images, not hits; read them with iter_jets",
                              file=reader.path)
        a, b = check_range(reader.path, len(reader), start, stop)
    except BaseException:
        reader.close()
        raise
    return _iterate_hits(reader, chunk_size, a, b)


def _iterate_hits(reader: Reader, chunk_size: int, start: int, stop: int) -> Iterator[HitBatch]:
    with reader:
        yield from reader.iter_hits(chunk_size, start, stop)


def read_jets(path: str | os.PathLike, start: int = 0, stop: int | None = None,
              chunk_size: int = DEFAULT_CHUNK_SIZE) -> JetBatch:
    """Jets ``start:stop`` of ``path`` as one batch (read in chunks, then joined)."""
    batches = list(iter_jets(path, chunk_size, start, stop))
    if not batches:
        return empty_batch(os.fspath(path), start)
    return batches[0] if len(batches) == 1 else JetBatch.concatenate(batches)


def count_jets(path: str | os.PathLike) -> int:
    """Number of jets in ``path`` (from the file's metadata/header; no images are decoded)."""
    with open_reader(path) as reader:
        return len(reader)


def describe(path: str | os.PathLike) -> FileInfo:
    """Format, number of jets, columns and size of ``path``."""
    with open_reader(path) as reader:
        return FileInfo(reader.path, reader.format, len(reader), reader.columns(), os.path.getsize(reader.path))


class JetWriter:
    """Write jets to ``path`` chunk by chunk; the format comes from the extension.

    Usage::

        with JetWriter("jets.parquet") as w:
            for batch in batches:
                w.write(batch)

    The file is written under a temporary name next to ``path`` and renamed when the writer closes
    without error, so an interrupted run never leaves a file that looks complete. Every batch is
    checked first (:class:`gvae.errors.InvalidInput` for NaN/Inf/negative energies or non-finite
    ``pt``/``m0``/``y``).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self.format = format_from_extension(self.path)
        directory, name = os.path.split(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FormatError(f"output directory {directory!r} does not exist", file=self.path)
        self._tmp = os.path.join(directory, f".{name}.{os.getpid()}.part")
        self._writer: Writer | None = _writer_class(self.format)(self._tmp)

    @property
    def n_written(self) -> int:
        """Jets written so far."""
        return self._writer.n_written if self._writer else self._n_final

    def write(self, batch: JetBatch) -> None:
        """Append the jets of ``batch`` (rows continue from the previous write)."""
        if self._writer is None:
            raise DataError("write() after close()", file=self.path)
        validate_batch(batch, batch.source)
        self._writer.write(batch)

    def close(self) -> None:
        """Finish the file and move it to ``path``."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        self._n_final = writer.n_written
        try:
            writer.close()
        except BaseException:
            _remove(self._tmp)
            raise
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Discard the partial file."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        self._n_final = writer.n_written
        writer.abort()
        _remove(self._tmp)

    def __enter__(self) -> "JetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if getattr(self, "_writer", None) is not None:
            log.warning("JetWriter for %s was never closed: the partial file is discarded", self.path)
            self.abort()


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def write_jets(path: str | os.PathLike, jets: JetBatch | Iterable[JetBatch]) -> int:
    """Write one batch or an iterable of batches to ``path``; returns the number of jets written."""
    batches = [jets] if isinstance(jets, JetBatch) else jets
    with JetWriter(path) as writer:
        for batch in batches:
            writer.write(batch)
    return writer.n_written
