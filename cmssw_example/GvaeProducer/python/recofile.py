"""Readers for the files of the CMSSW-like example (see cmssw_example/README.md, "Output files").

* ``read_reco_details(path)``: the ``.gvr`` written by ``GvhOutputModule`` (``out.detailsFileName``):
  full-precision reconstructed hits ``(channel, ieta, iphi, x, y, energy)`` and the graph
  diagnostics of every jet, in input order.
* ``read_gvh_hits(path)``: the raw hits of every jet of a ``.gvh`` file exactly as stored (no
  image conversion), i.e. exactly what the C++ ``GvhSource`` hands to ``gvae::Producer``.

The ``.gvh`` file of reconstructed jets (``out.fileName``) is an ordinary ``.gvh`` file: read it with
``gvae.io.read_jets``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gvae.errors import CorruptFileError, FormatError
from gvae.io.gvh import HEADER_DTYPE, HIT_DTYPE, JET_DTYPE, MAGIC

RECO_MAGIC = b"GVAERCO1"
RECO_VERSION = 1
RECO_JET_DTYPE = np.dtype([("event_id", "<u8"), ("n_nodes", "<u4"), ("n_hits", "<u4"), ("total_energy", "<f8"),
                           ("dropped_energy_fraction", "<f8"), ("n_reco", "<u4"), ("pad", "<u4")])
RECO_HIT_DTYPE = np.dtype([("channel", "u1"), ("pad0", "u1"), ("ieta", "<u2"), ("iphi", "<u2"), ("pad1", "<u2"),
                           ("x", "<f4"), ("y", "<f4"), ("energy", "<f4")])
assert RECO_JET_DTYPE.itemsize == 40 and RECO_HIT_DTYPE.itemsize == 20


@dataclass
class RecoJet:
    """One reconstructed jet: ``hits`` is a structured array ``[n_reco]`` of ``RECO_HIT_DTYPE``
    (energy descending = the input graph's node order)."""

    event_id: int
    n_nodes: int
    n_hits: int
    total_energy: float
    dropped_energy_fraction: float
    hits: np.ndarray


@dataclass
class RawJet:
    """One jet of a ``.gvh`` file: scalars and ``hits`` ``[n_hits]`` of ``gvae.io.gvh.HIT_DTYPE``."""

    event_id: int
    pt: float
    eta: float
    phi: float
    m0: float
    label: float
    hits: np.ndarray


def _records(path: str, magic: bytes, jet_dtype: np.dtype, hit_dtype: np.dtype, count_field: str
             ) -> list[tuple[np.void, np.ndarray]]:
    """Walk a header + (jet header, hits) file; typed errors name file, row and field."""
    data = np.fromfile(path, np.uint8)
    if len(data) < HEADER_DTYPE.itemsize:
        raise CorruptFileError(f"{len(data)} bytes, shorter than the 24-byte header", file=path, field="header")
    header = data[:HEADER_DTYPE.itemsize].view(HEADER_DTYPE)[0]
    if bytes(header["magic"]) != magic:
        raise FormatError(f"bad magic {bytes(header['magic'])!r}, expected {magic!r}", file=path, field="magic")
    if int(header["version"]) != 1:
        raise FormatError(f"unsupported version {int(header['version'])}", file=path, field="version")
    n_jets = int(header["n_jets"])
    out = []
    pos = HEADER_DTYPE.itemsize
    for row in range(n_jets):
        if pos + jet_dtype.itemsize > len(data):
            raise CorruptFileError("truncated inside a jet header", file=path, row=row, field="jet header")
        jet = data[pos:pos + jet_dtype.itemsize].view(jet_dtype)[0]
        pos += jet_dtype.itemsize
        n = int(jet[count_field])
        end = pos + n * hit_dtype.itemsize
        if end > len(data):
            raise CorruptFileError(f"truncated: {n} hits announced", file=path, row=row, field=count_field)
        out.append((jet, data[pos:end].view(hit_dtype).copy()))
        pos = end
    if pos != len(data):
        raise CorruptFileError(f"{len(data) - pos} bytes after the {n_jets} jets the header announces "
                               "(not closed properly or corrupt)", file=path, field="n_jets")
    return out


def read_reco_details(path: str | os.PathLike) -> list[RecoJet]:
    """All jets of a ``.gvr`` reconstruction-details file, in file (= input) order."""
    path = os.fspath(path)
    return [RecoJet(int(j["event_id"]), int(j["n_nodes"]), int(j["n_hits"]), float(j["total_energy"]),
                    float(j["dropped_energy_fraction"]), hits)
            for j, hits in _records(path, RECO_MAGIC, RECO_JET_DTYPE, RECO_HIT_DTYPE, "n_reco")]


def read_gvh_hits(path: str | os.PathLike) -> list[RawJet]:
    """All jets of a ``.gvh`` file with their hits exactly as stored."""
    path = os.fspath(path)
    return [RawJet(int(j["event_id"]), float(j["pt"]), float(j["eta"]), float(j["phi"]), float(j["m0"]),
                   float(j["label"]), hits)
            for j, hits in _records(path, MAGIC, JET_DTYPE, HIT_DTYPE, "n_hits")]
