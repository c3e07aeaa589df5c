"""Reading Delphes ROOT files (the ``Delphes`` TTree) in chunks of events with uproot + awkward.

Delphes writes one entry per event and one split branch per collection (``EFlowTrack``,
``EFlowPhoton``, ``EFlowNeutralHadron``, ``Tower``, ``Jet``, ``Particle``, ...), with one jagged
sub-branch per field (``EFlowTrack.PT``, ``EFlowTrack.EtaOuter``, ...). Files written by other tools
(e.g. uproot) may hold the same ``Collection.Field`` branches at the top level instead; both layouts
are read. When two top-level branches share a collection name (some Delphes cards write a jet
collection called ``Particle`` next to the generator particles), the first that has every requested
field is used.

This module only reads; turning events into jet images is :mod:`gvae.data.delphes`.

Errors (all :class:`gvae.errors.DataError`, naming the file and the tree/branch):
:class:`~gvae.errors.FormatError` no such file, or not a ROOT file;
:class:`~gvae.errors.SchemaError` no ``Delphes`` TTree, a missing collection or field branch
(``field`` = ``"EFlowTrack.EtaOuter"``), or a branch that is not a jagged numeric array;
:class:`~gvae.errors.CorruptFileError` bytes uproot cannot decode (names the branch and the events).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

import numpy as np

from gvae.errors import CorruptFileError, DataError, FormatError, SchemaError
from gvae.io._uproot import DECODE_ERRORS, one_line, open_ttree

if TYPE_CHECKING:
    import awkward as ak

# uproot and awkward are imported where they are used, so that importing this module (and building
# the ``python -m gvae.data`` parser) stays fast.

#: Name of the event tree Delphes writes.
TREE = "Delphes"


def _not_delphes_hint(keys: Sequence[str]) -> str:
    """Appended to the missing-TTree error: it is not a Delphes file (perhaps a gvae jets file)."""
    return ": not a Delphes file" + (" (a gvae jets file: read it without --from delphes)" if "jets" in keys else "")


@dataclass
class EventChunk:
    """Events ``first_event .. first_event + n_events - 1`` of a Delphes file.

    arrays: ``"Collection.Field"`` -> awkward array ``[n_events, var]`` (float64 or int64).
    """

    first_event: int
    n_events: int
    arrays: dict[str, ak.Array]
    _flat: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _counts: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def counts(self, collection: str, field: str) -> np.ndarray:
        """Objects per event of ``collection`` (int64 ``[n_events]``), from the array of ``field``."""
        name = f"{collection}.{field}"
        if name not in self._counts:
            import awkward as ak

            self._counts[name] = np.asarray(ak.num(self.arrays[name], axis=1), np.int64)
        return self._counts[name]

    def flat(self, collection: str, field: str) -> np.ndarray:
        """All values of ``Collection.Field`` in the chunk, event after event (float64 or int64 ``[total]``)."""
        name = f"{collection}.{field}"
        if name not in self._flat:
            import awkward as ak

            self._flat[name] = np.asarray(ak.flatten(self.arrays[name], axis=1))
        return self._flat[name]


class DelphesFile:
    """A Delphes ROOT file opened for reading (a context manager).

    ``path``: the file; ``tree``: the event tree name (default ``Delphes``). Raises
    :class:`FormatError` / :class:`SchemaError` on open when the file is missing, not ROOT, or has no
    such TTree.
    """

    def __init__(self, path: str | os.PathLike, tree: str = TREE) -> None:
        self.path = os.fspath(path)
        self.tree_name = tree
        self._file, self._tree = open_ttree(self.path, self.tree_name, missing_hint=_not_delphes_hint)

    @property
    def n_events(self) -> int:
        """Entries (events) in the tree."""
        return int(self._tree.num_entries)

    def collections(self) -> list[str]:
        """Names of the collections in the tree (top-level branches, and the ``X`` of flat ``X.Field`` branches)."""
        names: list[str] = []
        for b in self._tree.branches:
            name = b.name.split(".", 1)[0] if not b.branches else b.name
            if not name.endswith("_size") and name not in names:
                names.append(name)
        return names

    def has(self, collection: str, fields: Sequence[str]) -> bool:
        """Whether ``collection`` exists with every one of ``fields``."""
        try:
            self._resolve(collection, fields)
        except SchemaError:
            return False
        return True

    def _resolve(self, collection: str, fields: Sequence[str]) -> dict[str, object]:
        """``"Collection.Field"`` -> TBranch for each of ``fields``; :class:`SchemaError` names the first missing one."""
        wanted = [f"{collection}.{f}" for f in fields]
        parents = [b for b in self._tree.branches if b.name == collection and b.branches]
        best: tuple[int, dict[str, object]] = (-1, {})
        for parent in parents:
            found = {b.name: b for b in parent.branches if b.name in wanted}
            if len(found) > best[0]:
                best = (len(found), found)
        flat = {b.name: b for b in self._tree.branches if b.name in wanted}
        if len(flat) > best[0]:
            best = (len(flat), flat)
        if not parents and not flat:
            raise SchemaError(f"the Delphes tree '{self.tree_name}' has no collection '{collection}' "
                              f"(collections: {', '.join(self.collections()) or 'none'})",
                              file=self.path, field=collection)
        found = best[1]
        for name in wanted:
            if name not in found:
                raise SchemaError(f"required branch is missing from the tree '{self.tree_name}' "
                                  f"(collection '{collection}' has: {', '.join(self._fields_of(collection))})",
                                  file=self.path, field=name)
        import uproot

        for name, branch in found.items():
            interp = getattr(branch, "interpretation", None)
            ok = isinstance(interp, uproot.AsJagged) and isinstance(interp.content, uproot.AsDtype) and \
                np.issubdtype(interp.content.to_dtype, np.number) and interp.content.to_dtype.shape == ()
            if not ok:
                raise SchemaError(f"expected a jagged numeric branch (one value per object), got "
                                  f"{getattr(branch, 'typename', '?')} ({interp})", file=self.path, field=name)
        return {name: found[name] for name in wanted}

    def _fields_of(self, collection: str) -> list[str]:
        names = []
        for b in self._tree.branches:
            if b.name == collection:
                names += [s.name.split(".", 1)[-1] for s in b.branches]
            elif b.name.startswith(collection + "."):
                names.append(b.name.split(".", 1)[1])
        return list(dict.fromkeys(names)) or ["none"]

    def require(self, branches: Mapping[str, Sequence[str]]) -> None:
        """Check that every ``{collection: [field, ...]}`` exists as a jagged numeric branch."""
        for collection, fields in branches.items():
            self._resolve(collection, fields)

    def iter_chunks(self, branches: Mapping[str, Sequence[str]], step: int = 1000, start: int = 0,
                    stop: int | None = None) -> Iterator[EventChunk]:
        """Events ``start:stop`` in chunks of at most ``step`` events, holding the requested branches
        ``{collection: [field, ...]}`` (checked before the first read)."""
        if step < 1:
            raise DataError(f"step must be >= 1, got {step}", file=self.path)
        resolved: dict[str, object] = {}
        for collection, fields in branches.items():
            resolved.update(self._resolve(collection, fields))
        stop = self.n_events if stop is None else min(stop, self.n_events)
        start = max(start, 0)
        if start >= stop:
            return
        import awkward as ak

        wanted = {id(b): name for name, b in resolved.items()}
        kinds = {name: np.float64 if np.issubdtype(b.interpretation.content.to_dtype, np.floating) else np.int64
                 for name, b in resolved.items()}
        chunks = self._tree.iterate(filter_branch=lambda b: id(b) in wanted, step_size=step, entry_start=start,
                                    entry_stop=stop, library="ak", how=dict, report=True)
        a = start
        while True:
            try:
                arrays, rep = next(chunks)
            except StopIteration:
                return
            except DECODE_ERRORS as exc:
                raise CorruptFileError(f"cannot decode events from {a} ({one_line(exc)})", file=self.path,
                                       row=a) from exc
            a, b = int(rep.tree_entry_start), int(rep.tree_entry_stop)
            by_name = {}
            for name in resolved:
                if name not in arrays:
                    raise CorruptFileError(f"uproot returned no values for the branch (got {sorted(arrays)})",
                                           file=self.path, row=a, field=name)
                by_name[name] = ak.values_astype(arrays[name], kinds[name])
            yield EventChunk(a, b - a, by_name)
            a = b

    def close(self) -> None:
        """Release the file."""
        self._file.close()

    def __enter__(self) -> "DelphesFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def looks_like_delphes(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a ROOT file with a ``Delphes`` TTree (never raises)."""
    try:
        import uproot

        with uproot.open(os.fspath(path)) as f:
            return TREE in f.keys(cycle=False)
    except Exception:  # noqa: BLE001 - a yes/no probe
        return False
