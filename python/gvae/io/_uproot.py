"""Opening a TTree with uproot behind typed errors: the one opener of the ROOT jets reader
(:mod:`gvae.io.root`) and the Delphes reader (:mod:`gvae.io.delphes`)."""
from __future__ import annotations

import os
from typing import Callable, Sequence

from gvae.errors import CorruptFileError, FormatError, SchemaError

#: What uproot raises on bytes it cannot decode: its own errors, OSError, zlib/lz4/zstd errors,
#: ValueError, KeyError, ... (no common base), so every Exception from uproot is wrapped.
DECODE_ERRORS = (Exception,)


def one_line(exc: BaseException) -> str:
    """``Type: message`` of an exception on one line (uproot's messages span several)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def open_ttree(path: str | os.PathLike, tree_name: str,
               missing_hint: Callable[[Sequence[str]], str] | None = None):
    """Open ``path`` and return ``(file, tree)``; the caller closes ``file``.

    Raises :class:`FormatError` when the file does not exist or is not ROOT, :class:`CorruptFileError`
    when it starts as ROOT but its header, directory or the TTree cannot be decoded, :class:`SchemaError` when ``tree_name`` is
    missing (``missing_hint(keys)`` is appended to that message) or is not a TTree.
    """
    import uproot

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FormatError("no such file", file=path)
    try:
        file = uproot.open(path)
    except DECODE_ERRORS as exc:
        with open(path, "rb") as f:
            is_root = f.read(4) == b"root"
        if is_root:  # ROOT's magic, but the header or directory cannot be decoded (e.g. truncated)
            raise CorruptFileError(f"cannot open as ROOT ({one_line(exc)})", file=path) from exc
        raise FormatError(f"not a readable ROOT file ({one_line(exc)})", file=path) from exc
    try:
        try:
            keys = file.keys(cycle=False)
        except DECODE_ERRORS as exc:
            raise CorruptFileError(f"cannot read the ROOT directory ({one_line(exc)})", file=path) from exc
        if tree_name not in keys:
            hint = missing_hint(keys) if missing_hint else ""
            raise SchemaError(f"no TTree '{tree_name}' (objects: {', '.join(keys) or 'none'}){hint}",
                              file=path, field=tree_name)
        try:
            tree = file[tree_name]
        except DECODE_ERRORS as exc:
            raise CorruptFileError(f"cannot read the TTree '{tree_name}' ({one_line(exc)})",
                                   file=path, field=tree_name) from exc
        if not isinstance(tree, uproot.TTree):
            raise SchemaError(f"'{tree_name}' is a {type(tree).__name__}, expected a TTree", file=path,
                              field=tree_name)
    except BaseException:
        file.close()
        raise
    return file, tree
