"""``.gvh``: the gvae hits binary (DESIGN.md section 3.1), read by the C++ example without ROOT.

Little-endian::

    header : char[8] magic "GVAEHIT1" | uint32 version = 1 | uint32 reserved = 0 | uint64 n_jets
    jet    : uint64 event_id | float32 pt | float32 eta | float32 phi | float32 m0 | float32 label
             | uint32 n_hits | n_hits x hit
    hit    : uint8 channel | uint8 pad = 0 | uint16 ieta | uint16 iphi | uint16 pad = 0 | float32 energy

Track and ECAL hits are pixels; HCAL hits are towers (``ieta, iphi`` = the tower's centre pixel
``5 * t + 2``, energy = tower energy). Hits are ordered by channel, then ieta, iphi. ``event_id`` is
the row index. The writer puts ``n_jets`` in the header when it closes; a header with fewer jets
than the bytes that follow (e.g. 0 from a writer that never closed) is reported as corrupt.

Reading memory-maps the file and decodes whole chunks with numpy structured dtypes; only the jet
boundaries are found with a loop over the jet headers (the format has no index). Not stored:
``ieta``/``iphi`` of the jet axis (read back as -1).
"""
from __future__ import annotations

import mmap
import os
import struct
from typing import Iterator

import numpy as np

from gvae.errors import CorruptFileError, FormatError
from gvae.io._common import (Reader, Writer, check_hits, empty_batch, images_to_hits, scalar_or_default,
                             validate_batch, validate_scalars)
from gvae.jets import SCALARS, HitBatch, JetBatch

MAGIC = b"GVAEHIT1"
VERSION = 1
HEADER_DTYPE = np.dtype([("magic", "S8"), ("version", "<u4"), ("reserved", "<u4"), ("n_jets", "<u8")])
JET_DTYPE = np.dtype([("event_id", "<u8"), ("pt", "<f4"), ("eta", "<f4"), ("phi", "<f4"), ("m0", "<f4"),
                      ("label", "<f4"), ("n_hits", "<u4")])
HIT_DTYPE = np.dtype([("channel", "u1"), ("pad0", "u1"), ("ieta", "<u2"), ("iphi", "<u2"), ("pad1", "<u2"),
                      ("energy", "<f4")])
assert HEADER_DTYPE.itemsize == 24 and JET_DTYPE.itemsize == 32 and HIT_DTYPE.itemsize == 12
_N_HITS_AT = JET_DTYPE.fields["n_hits"][1]
_HIT_FIELDS = ("channel", "{ch}.ieta", "{ch}.iphi", "{ch}.energy")


def encode(batch: JetBatch, first_event_id: int) -> bytes:
    """The jet records of ``batch`` (no file header), event ids counting from ``first_event_id``."""
    n = len(batch)
    hits = images_to_hits(batch.images)
    jets = np.zeros(n, JET_DTYPE)
    jets["event_id"] = np.arange(first_event_id, first_event_id + n, dtype=np.uint64)
    for name in ("pt", "eta", "phi", "m0"):
        jets[name] = getattr(batch, name)
    jets["label"] = batch.y
    jets["n_hits"] = hits.counts
    records = np.zeros(len(hits.jet), HIT_DTYPE)
    records["channel"], records["ieta"], records["iphi"] = hits.channel, hits.ieta, hits.iphi
    records["energy"] = hits.energy
    # byte offset of each jet record, then scatter jet headers and hits into one buffer
    before = np.concatenate([[0], np.cumsum(hits.counts)[:-1]]) if n else np.zeros(0, np.int64)
    jet_off = np.arange(n, dtype=np.int64) * JET_DTYPE.itemsize + before * HIT_DTYPE.itemsize
    total = n * JET_DTYPE.itemsize + len(records) * HIT_DTYPE.itemsize
    buf = np.empty(total, np.uint8)
    buf[jet_off[:, None] + np.arange(JET_DTYPE.itemsize)] = jets.view(np.uint8).reshape(n, -1)
    if len(records):
        index_in_jet = np.arange(len(records)) - before[hits.jet]
        hit_off = jet_off[hits.jet] + JET_DTYPE.itemsize + index_in_jet * HIT_DTYPE.itemsize
        buf[hit_off[:, None] + np.arange(HIT_DTYPE.itemsize)] = records.view(np.uint8).reshape(-1, HIT_DTYPE.itemsize)
    return buf.tobytes()


class GvhWriter(Writer):
    """Streams jet records; writes ``n_jets`` into the header on close."""

    format = "gvh"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._f = open(path, "wb")
        self._f.write(_header(0))

    def write(self, batch: JetBatch) -> None:
        if len(batch):
            self._f.write(encode(batch, self.n_written))
            self.n_written += len(batch)

    def close(self) -> None:
        if self._f.closed:
            return
        self._f.seek(0)
        self._f.write(_header(self.n_written))
        self._f.close()

    def abort(self) -> None:
        self._f.close()


def _header(n_jets: int) -> bytes:
    h = np.zeros((), HEADER_DTYPE)
    h["magic"], h["version"], h["n_jets"] = MAGIC, VERSION, n_jets
    return h.tobytes()


class GvhReader(Reader):
    """Jets from a ``.gvh`` file (memory-mapped)."""

    format = "gvh"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        size = os.path.getsize(path)
        if size < HEADER_DTYPE.itemsize:
            raise CorruptFileError(f"file has {size} bytes, shorter than the {HEADER_DTYPE.itemsize}-byte header",
                                   file=path)
        with open(path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._size = size
        header = np.frombuffer(self._mm, HEADER_DTYPE, count=1)[0]
        if header["magic"] != MAGIC:
            self.close()
            raise FormatError(f"bad magic {bytes(header['magic'])!r}, expected {MAGIC!r}", file=path, field="magic")
        if header["version"] != VERSION:
            self.close()
            raise FormatError(f"unsupported version {int(header['version'])} (this reader knows {VERSION})",
                              file=path, field="version")
        self._n = int(header["n_jets"])
        body = size - HEADER_DTYPE.itemsize
        if self._n == 0 and body > 0:
            self.close()
            raise CorruptFileError(f"header says 0 jets but {body} bytes follow (the writer was not closed: "
                                   "truncated or incomplete file)", file=path, field="n_jets")
        if body < self._n * JET_DTYPE.itemsize:
            self.close()
            raise CorruptFileError(f"header says {self._n} jets but only {body} bytes follow (each jet needs at "
                                   f"least {JET_DTYPE.itemsize}): truncated", file=path, field="n_jets")
        # jet byte offsets found so far: _offsets[i] = start of jet i (filled lazily by _scan)
        self._offsets = [HEADER_DTYPE.itemsize]

    def __len__(self) -> int:
        return self._n

    def columns(self) -> list[str]:
        return ["event_id", "pt", "eta", "phi", "m0", "label", "n_hits",
                "hits.channel", "hits.ieta", "hits.iphi", "hits.energy"]

    def _scan(self, upto: int) -> None:
        """Find the byte offsets of jets up to ``upto`` (inclusive; ``upto = n`` = end of data)."""
        offsets, mm, size = self._offsets, self._mm, self._size
        unpack = struct.Struct("<I").unpack_from
        pos = offsets[-1]
        for i in range(len(offsets) - 1, upto):
            if pos == size:
                raise CorruptFileError(f"the header announces {self._n} jets but the file ends after {i}: truncated",
                                       file=self.path, row=i, field="n_jets")
            if pos + JET_DTYPE.itemsize > size:
                raise CorruptFileError(f"file ends inside the header of jet {i} (byte {pos} of {size}): truncated",
                                       file=self.path, row=i, field="jet header")
            n_hits = unpack(mm, pos + _N_HITS_AT)[0]
            pos += JET_DTYPE.itemsize + n_hits * HIT_DTYPE.itemsize
            if pos > size:
                raise CorruptFileError(f"jet says {n_hits} hits but the file ends after "
                                       f"{(size - pos + n_hits * HIT_DTYPE.itemsize) // HIT_DTYPE.itemsize} of them: "
                                       "truncated", file=self.path, row=i, field="n_hits")
            offsets.append(pos)
        if upto == self._n and pos != size:
            raise CorruptFileError(f"{size - pos} unexpected bytes after the last of the {self._n} jets the header "
                                   "announces", file=self.path, row=self._n, field="n_jets")

    def read_hits(self, start: int, stop: int) -> HitBatch:
        """Jets ``start:stop`` as validated flat hits with their scalars (no images painted)."""
        n = max(stop - start, 0)
        if n == 0:
            return HitBatch(*(np.zeros(0, np.int64) for _ in range(6)),
                            scalars={s: scalar_or_default(s, None, 0) for s in SCALARS}, source=self.path,
                            first_row=start)
        self._scan(stop)
        offsets = np.asarray(self._offsets[start:stop + 1], np.int64)
        base = int(offsets[0])
        raw = np.frombuffer(self._mm, np.uint8, count=int(offsets[-1]) - base, offset=base)
        rel = offsets[:-1] - base
        is_hit = np.ones(len(raw), bool)
        is_hit[(rel[:, None] + np.arange(JET_DTYPE.itemsize)).ravel()] = False
        jets = raw[~is_hit].view(JET_DTYPE)
        hits = raw[is_hit].view(HIT_DTYPE)
        counts = jets["n_hits"].astype(np.int64)
        jet = np.repeat(np.arange(n), counts)
        fields = {f: np.array(hits[f]) for f in ("channel", "ieta", "iphi", "energy")}  # copies: the mmap may close
        check_hits(jet, *fields.values(), self.path, start, _HIT_FIELDS)
        scalars = {"pt": jets["pt"], "m0": jets["m0"], "y": jets["label"], "eta": jets["eta"], "phi": jets["phi"],
                   "ieta": None, "iphi": None}
        scalars = {s: np.array(scalar_or_default(s, v, n)) for s, v in scalars.items()}
        validate_scalars(scalars, self.path, start)
        del raw, jets, hits  # release views of the mmap before it may be closed
        return HitBatch(jet, *fields.values(), counts, scalars=scalars, source=self.path, first_row=start)

    def read(self, start: int, stop: int) -> JetBatch:
        n = stop - start
        if n <= 0:
            return empty_batch(self.path, start)
        hits = self.read_hits(start, stop)
        batch = JetBatch(hits.images(), **hits.scalars, source=self.path, first_row=start)
        validate_batch(batch, self.path)
        return batch

    def iter_hits(self, chunk_size: int, start: int, stop: int) -> Iterator[HitBatch]:
        for a in range(start, stop, chunk_size):
            yield self.read_hits(a, min(a + chunk_size, stop))
        if stop == self._n:
            self._scan(self._n)  # trailing garbage after the last jet is an error too

    def iter(self, chunk_size: int, start: int, stop: int) -> Iterator[JetBatch]:
        for a in range(start, stop, chunk_size):
            yield self.read(a, min(a + chunk_size, stop))
        if stop == self._n:
            self._scan(self._n)  # trailing garbage after the last jet is an error too

    def close(self) -> None:
        try:
            self._mm.close()
        except BufferError:  # a view is still alive somewhere; the GC closes it later
            pass
