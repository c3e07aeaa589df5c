"""ROOT TTree ``jets`` with jagged hits (uproot + awkward; a TTree, not an RNTuple).

Branches, one entry per jet:

==============================================  ===========  =========================================
branch                                          type         meaning
==============================================  ===========  =========================================
pt, m0, y, eta, phi                             float32      jet pT, mass (GeV), label, axis
ieta, iphi                                      int32        jet-axis crystal indices (-1 = unknown)
ntrack, necal, nhcal                            int32        hits per channel (uproot's counters)
{track,ecal,hcal}_ieta, {...}_iphi              int16[]      hit pixel (HCAL: tower centre 5 t + 2)
{track,ecal,hcal}_energy                        float32[]    GeV (HCAL: tower energy)
==============================================  ===========  =========================================

Written chunk by chunk with ``WritableTree.extend``; read with ``TTree.iterate(step_size=...)`` and
painted into images with vectorised numpy (HCAL towers spread as energy / 25 over 5 x 5 pixels).
Required: ``pt``, ``m0``, ``y`` and the three branches of every channel.
"""
from __future__ import annotations

from typing import Iterator

import awkward as ak
import numpy as np
import uproot

from gvae import geometry
from gvae.errors import CorruptFileError, SchemaError
from gvae.io._uproot import DECODE_ERRORS, open_ttree
from gvae.io._common import (REQUIRED_SCALARS, Reader, Writer, check_hits, empty_batch, images_to_hits,
                             scalar_or_default, validate_batch, validate_scalars)
from gvae.jets import SCALAR_DTYPES, SCALARS, HitBatch, JetBatch

TREE = "jets"
HIT_FIELDS: tuple[str, ...] = ("ieta", "iphi", "energy")
_HIT_TYPES = {"ieta": np.int16, "iphi": np.int16, "energy": np.float32}
HIT_BRANCHES: tuple[str, ...] = tuple(f"{ch}_{f}" for ch in geometry.CHANNELS for f in HIT_FIELDS)


def _branch_types() -> dict:
    types: dict = {name: SCALAR_DTYPES[name] for name in SCALARS}
    record = ", ".join(f"{f}: {np.dtype(_HIT_TYPES[f]).name}" for f in HIT_FIELDS)
    for ch in geometry.CHANNELS:
        types[ch] = ak.types.from_datashape(f"var * {{{record}}}", highlevel=False)
    return types


class RootWriter(Writer):
    """Extends the TTree ``jets`` by one basket per written chunk."""

    format = "root"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._file = uproot.recreate(path)
        self._tree = self._file.mktree(TREE, _branch_types(), title="gvae jets: scalars + jagged hits per channel")

    def write(self, batch: JetBatch) -> None:
        n = len(batch)
        if n == 0:
            return
        hits = images_to_hits(batch.images)
        data: dict = {name: getattr(batch, name) for name in SCALARS}
        for c, ch in enumerate(geometry.CHANNELS):
            sel = hits.channel == c
            counts = np.bincount(hits.jet[sel], minlength=n)
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            record = ak.contents.RecordArray(
                [ak.contents.NumpyArray(np.ascontiguousarray(getattr(hits, f)[sel].astype(_HIT_TYPES[f])))
                 for f in HIT_FIELDS], list(HIT_FIELDS))
            data[ch] = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), record))
        self._tree.extend(data)
        self.n_written += n

    def close(self) -> None:
        self._file.close()


class RootReader(Reader):
    """Jets from the TTree ``jets``, iterated in steps of ``chunk_size`` entries."""

    format = "root"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._file, tree = open_ttree(path, TREE)
        try:
            self._tree = self._check_tree(tree)
        except BaseException:
            self._file.close()
            raise

    def _check_tree(self, tree):
        names = set(tree.keys())
        for name in (*REQUIRED_SCALARS, *HIT_BRANCHES):
            if name not in names:
                raise SchemaError(f"required branch is missing (branches: {', '.join(tree.keys())})",
                                  file=self.path, field=name)
        for name in HIT_BRANCHES:
            if not isinstance(tree[name].interpretation, uproot.AsJagged):
                raise SchemaError(f"expected a jagged (variable-length) branch, got {tree[name].interpretation}",
                                  file=self.path, field=name)
        self._branches = [s for s in SCALARS if s in names] + list(HIT_BRANCHES)
        return tree

    def __len__(self) -> int:
        return int(self._tree.num_entries)

    def columns(self) -> list[str]:
        return list(self._tree.keys())

    def read(self, start: int, stop: int) -> JetBatch:
        if stop <= start:
            return empty_batch(self.path, start)
        return next(iter(self.iter(stop - start, start, stop)))

    def iter(self, chunk_size: int, start: int, stop: int) -> Iterator[JetBatch]:
        for hits in self.iter_hits(chunk_size, start, stop):
            batch = JetBatch(hits.images(), **hits.scalars, source=self.path, first_row=hits.first_row)
            validate_batch(batch, self.path)
            yield batch

    def iter_hits(self, chunk_size: int, start: int, stop: int) -> Iterator[HitBatch]:
        if stop <= start:
            return
        it = self._tree.iterate(self._branches, entry_start=start, entry_stop=stop, step_size=chunk_size,
                                library="ak", how=dict)
        row = start
        while True:
            try:
                arrays = next(it)
            except StopIteration:
                return
            except DECODE_ERRORS as exc:
                raise CorruptFileError(f"cannot decode entries from {row} ({type(exc).__name__}: {exc})",
                                       file=self.path, row=row) from exc
            hits = self._to_hits(arrays, row)
            row += len(hits)
            yield hits

    def _to_hits(self, arrays: dict, first_row: int) -> HitBatch:
        """One chunk of branches -> validated flat hits (grouped by jet, then channel) and scalars."""
        n = len(arrays[HIT_BRANCHES[0]])
        jets, channels, fields = [], [], {f: [] for f in HIT_FIELDS}
        for c, ch in enumerate(geometry.CHANNELS):
            counts = None
            for f in HIT_FIELDS:
                name = f"{ch}_{f}"
                a = arrays[name]
                num = np.asarray(ak.num(a, axis=1))
                if counts is None:
                    counts = num
                elif not np.array_equal(num, counts):
                    j = int(np.flatnonzero(num != counts)[0])
                    raise SchemaError(f"{int(num[j])} values but {ch}_ieta has {int(counts[j])}",
                                      file=self.path, row=first_row + j, field=name)
                fields[f].append(np.asarray(ak.flatten(a, axis=1)))
            jets.append(np.repeat(np.arange(n), counts))
            channels.append(np.full(int(counts.sum()), c, np.int64))
        jet = np.concatenate(jets)
        order = np.argsort(jet, kind="stable")
        jet, channel = jet[order], np.concatenate(channels)[order]
        ieta, iphi, energy = (np.concatenate(fields[f])[order] for f in HIT_FIELDS)
        check_hits(jet, channel, ieta, iphi, energy, file=self.path, first_row=first_row,
                   fields=("channel", "{ch}_ieta", "{ch}_iphi", "{ch}_energy"))
        scalars = {name: scalar_or_default(name, np.asarray(arrays[name]) if name in arrays else None, n)
                   for name in SCALARS}
        validate_scalars(scalars, self.path, first_row)
        return HitBatch(jet, channel, ieta, iphi, energy, np.bincount(jet, minlength=n).astype(np.int64),
                        scalars=scalars, source=self.path, first_row=first_row)

    def close(self) -> None:
        self._file.close()
