"""The native library libgvae from Python: its installed CMake prefix and its inference API.

The gvae package ships libgvae, its headers and a CMake package (``gvaeConfig.cmake`` with the
imported target ``gvae::gvae``) under ``site-packages/gvae/``. A C++ project builds against it with::

    cmake -DCMAKE_PREFIX_PATH="$(python -c 'import gvae.native as n; print(n.cmake_prefix_path())')" ...
    # CMakeLists.txt: find_package(gvae REQUIRED)  target_link_libraries(app PRIVATE gvae::gvae)

(the config finds Torch itself, from the same Python's torch). The inference classes are the
C++ ones (pybind11, numpy in and out): :class:`Model`, :class:`Producer`, :class:`NoiseGenerator`,
:func:`configure_threads`; :func:`produce` is a convenience over :meth:`Producer.produce` for a
list of per-jet hits.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gvae import _core
from gvae.errors import InvalidInput

Model = _core.Model
Producer = _core.Producer
Simulator = _core.Simulator
snap = _core.snap
NoiseGenerator = _core.NoiseGenerator
configure_threads = _core.configure_threads
configured_threads = _core.configured_threads
parse_contract = _core.parse_contract
jet_seed = _core.jet_seed
MAX_HITS_PER_JET: int = _core.MAX_HITS_PER_JET


def cmake_prefix_path() -> str:
    """Prefix to add to ``CMAKE_PREFIX_PATH`` for ``find_package(gvae)`` (like
    ``torch.utils.cmake_prefix_path``).

    Located from the compiled module ``gvae._core`` (the installed files), not from
    ``gvae.__file__``: in an editable install that points at the source tree.
    """
    prefix = Path(_core.__file__).resolve().parent
    config = prefix / "lib" / "cmake" / "gvae" / "gvaeConfig.cmake"
    if not config.is_file():
        raise FileNotFoundError(f"gvae CMake package not found at {config}: reinstall gvae (make build)")
    return str(prefix)


def include_dir() -> str:
    """Directory holding ``gvae/*.h``."""
    return str(Path(cmake_prefix_path()) / "include")


def library_path() -> str:
    """Path of the shared library ``libgvae.so``."""
    return str(Path(cmake_prefix_path()) / "lib" / "libgvae.so")


@dataclass
class JetOutput:
    """Reconstructed hits of one jet (physical units) and its graph diagnostics.

    channel int32 ``[n]`` (input node's channel), x/y float32 ``[n]`` (eta/phi offsets),
    ieta/iphi int32 ``[n]`` (nearest pixel), energy float32 ``[n]`` (GeV); n = n_nodes.
    """

    jet_id: int
    channel: np.ndarray
    x: np.ndarray
    y: np.ndarray
    ieta: np.ndarray
    iphi: np.ndarray
    energy: np.ndarray
    n_nodes: int
    n_hits: int
    total_energy: float
    dropped_energy_fraction: float


def flatten_hits(jets: Sequence[Any]) -> dict[str, np.ndarray]:
    """Per-jet hits -> the flat arrays of :meth:`Producer.produce`.

    Each jet is a :class:`gvae.graphs.build.Hits`, an object with ``channel, ieta, iphi, energy``
    attributes, or a ``(channel, ieta, iphi, energy)`` tuple. Returns channel/ieta/iphi int32,
    energy float32 (per hit) and counts int64 (per jet).
    """
    parts: dict[str, list[np.ndarray]] = {"channel": [], "ieta": [], "iphi": [], "energy": []}
    counts = np.zeros(len(jets), dtype=np.int64)
    for j, jet in enumerate(jets):
        fields = (jet if isinstance(jet, (tuple, list))
                  else (jet.channel, jet.ieta, jet.iphi, jet.energy))
        if len(fields) != 4:
            raise InvalidInput(f"jet {j}: expected (channel, ieta, iphi, energy)", row=j, field="hits")
        arrays = [np.asarray(a).reshape(-1) for a in fields]
        if len({len(a) for a in arrays}) != 1:
            raise InvalidInput(f"jet {j}: channel, ieta, iphi, energy differ in length", row=j,
                               field="hits")
        for name, a in zip(parts, arrays):
            parts[name].append(a)
        counts[j] = len(arrays[0])
    out = {name: (np.concatenate(v) if v else np.zeros(0)).astype(
        np.float32 if name == "energy" else np.int32) for name, v in parts.items()}
    out["counts"] = counts
    return out


def produce(producer: Producer, jets: Sequence[Any], jet_ids: Sequence[int] | None = None,
            rng: NoiseGenerator | None = None) -> list[JetOutput]:
    """Run ``producer`` on a list of per-jet hits (see :func:`flatten_hits`); one
    :class:`JetOutput` per jet, same order."""
    flat = flatten_hits(jets)
    ids = None if jet_ids is None else np.asarray(jet_ids, dtype=np.uint64)
    out = producer.produce(flat["channel"], flat["ieta"], flat["iphi"], flat["energy"], flat["counts"],
                           ids, rng)
    bounds = np.concatenate([[0], np.cumsum(out["counts"])])
    return [JetOutput(int(out["jet_id"][j]),
                      *(out[f][bounds[j]:bounds[j + 1]] for f in ("channel", "x", "y", "ieta", "iphi",
                                                                   "energy")),
                      int(out["n_nodes"][j]), int(out["n_hits"][j]), float(out["total_energy"][j]),
                      float(out["dropped_energy_fraction"][j]))
            for j in range(len(jets))]


__all__ = ["Model", "Producer", "Simulator", "snap", "NoiseGenerator", "configure_threads", "configured_threads",
           "parse_contract", "jet_seed", "MAX_HITS_PER_JET", "cmake_prefix_path", "include_dir",
           "library_path", "JetOutput", "flatten_hits", "produce"]
