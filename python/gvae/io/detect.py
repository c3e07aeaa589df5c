"""Format detection: the extension names the format, the magic bytes must agree.

==========  ===============  ==========================
extension   format           magic (first bytes)
==========  ===============  ==========================
.parquet    ``parquet``      ``PAR1``
.h5 .hdf5   ``hdf5``         ``\\x89HDF\\r\\n\\x1a\\n``
.root       ``root``         ``root``
.gvh        ``gvh``          ``GVAEHIT1``
==========  ===============  ==========================
"""
from __future__ import annotations

import os

from gvae.errors import FormatError

EXTENSIONS: dict[str, str] = {".parquet": "parquet", ".pq": "parquet", ".h5": "hdf5", ".hdf5": "hdf5",
                              ".root": "root", ".gvh": "gvh"}
MAGIC: dict[str, bytes] = {"parquet": b"PAR1", "hdf5": b"\x89HDF\r\n\x1a\n", "root": b"root",
                           "gvh": b"GVAEHIT1"}
FORMATS: tuple[str, ...] = tuple(MAGIC)


def format_from_extension(path: str | os.PathLike) -> str:
    """The format named by the file extension; :class:`FormatError` for an unknown one."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    try:
        return EXTENSIONS[ext]
    except KeyError:
        known = ", ".join(sorted(EXTENSIONS))
        raise FormatError(f"unknown file extension {ext or '(none)'!r}; known: {known}",
                          file=os.fspath(path)) from None


def format_from_magic(head: bytes) -> str | None:
    """The format whose magic bytes start ``head``, or ``None``."""
    for fmt, magic in MAGIC.items():
        if head.startswith(magic):
            return fmt
    return None


def detect_format(path: str | os.PathLike) -> str:
    """Format of an existing file: from its extension, verified against its magic bytes.

    Raises :class:`FormatError` when the extension is unknown, the file is missing, empty, or its
    first bytes are not the magic of the format its extension names.
    """
    path = os.fspath(path)
    fmt = format_from_extension(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise FormatError("no such file", file=path) from None
    except OSError as exc:
        raise FormatError(f"cannot open: {exc.strerror or exc}", file=path) from exc
    if not head:
        raise FormatError(f"file is empty (expected a {fmt} file)", file=path)
    if not head.startswith(MAGIC[fmt]):
        actual = format_from_magic(head)
        found = f"the bytes of a {actual} file" if actual else f"unknown leading bytes {head[:8]!r}"
        raise FormatError(f"extension says {fmt} (magic {MAGIC[fmt]!r}) but the file starts with {found}",
                          file=path)
    return fmt
