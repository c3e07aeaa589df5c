"""pytest fixtures: data stage. Generated jets (Pythia 8 + FastJet + the CMS-like detector) and
files holding them, for every stage's tests.

* ``generated_jets``: a :class:`gvae.jets.JetBatch` of :data:`GENERATED_JETS` = 120 ``mixed`` jets
  (even rows ttbar with y = 1, odd rows QCD with y = 0), seed :data:`GENERATED_SEED`.
* ``physics_jets``: 240 ``mixed`` jets of the same seed (its first 120 are ``generated_jets``:
  a longer run of the same seed starts with the jets of a shorter one).
* ``generated_file_factory``: ``factory(".parquet" | ".h5" | ".root" | ".gvh") -> Path`` of a file
  holding ``generated_jets`` (written once per session and format through :mod:`gvae.io`).

The arrays are cached on disk (pytest cache dir ``.pytest_cache/d/gvae-data/``), keyed by a hash of
the generator and detector sources, the parameters and the versions of Pythia, FastJet and numpy,
so only the first run after a change pays for generation (~10 s).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from filelock import FileLock

import gvae.data.detector
import gvae.data.generate
import gvae.data.pileup
from gvae.jets import SCALARS, JetBatch

__all__ = ["GENERATED_JETS", "GENERATED_SEED", "PHYSICS_JETS", "cached_generated_jets", "generated_jets",
           "physics_jets", "generated_file_factory"]

GENERATED_SEED = 20240607
GENERATED_JETS = 120
PHYSICS_JETS = 240
_PROCESS = "mixed"


def _cache_key(process: str, n_jets: int, seed: int) -> str:
    h = hashlib.sha256()
    for module in (gvae.data.detector, gvae.data.generate, gvae.data.pileup):
        h.update(inspect.getsource(module).encode())
    for dist in ("pythia8mc", "fastjet", "numpy", "scipy"):
        try:
            h.update(f"{dist}={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{dist}=?".encode())
    h.update(f"{process}/{n_jets}/{seed}".encode())
    return h.hexdigest()[:20]


def cached_generated_jets(cache_dir: Path, process: str, n_jets: int, seed: int) -> JetBatch:
    """``gvae.data.generate.generate_jets(process, n_jets, seed)`` (one worker), read from
    ``cache_dir`` when an identical run was cached there, else generated and cached."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{process}-{n_jets}-{seed}-{_cache_key(process, n_jets, seed)}.npz"
    with FileLock(str(path.with_suffix(".lock"))):  # xdist workers: one generates, the others wait and read
        if path.exists():
            try:
                with np.load(path) as data:
                    return JetBatch(data["images"], **{k: data[k] for k in SCALARS},
                                    source=f"<generated {process} seed={seed}>")
            except (OSError, KeyError, ValueError):  # a damaged cache entry is regenerated
                path.unlink(missing_ok=True)
        batch = gvae.data.generate.generate_jets(process, n_jets, seed, workers=1, progress=False)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, images=batch.images, **batch.scalars())
        os.replace(tmp, path)  # atomic: concurrent sessions never read a half-written file
        return batch


def _cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("gvae-data"))
    return tmp_path_factory.getbasetemp().parent / "gvae-data"


@pytest.fixture(scope="session")
def physics_jets(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> JetBatch:
    """240 generated mixed jets (120 ttbar, 120 QCD, interleaved), seed GENERATED_SEED."""
    return cached_generated_jets(_cache_dir(request, tmp_path_factory), _PROCESS, PHYSICS_JETS, GENERATED_SEED)


@pytest.fixture(scope="session")
def generated_jets(physics_jets: JetBatch) -> JetBatch:
    """120 generated mixed jets (60 ttbar y=1 at even rows, 60 QCD y=0 at odd rows), seed GENERATED_SEED.
    Images float32 ``[120, 3, 125, 125]``; equal to ``generate_jets("mixed", 120, GENERATED_SEED)``."""
    first = physics_jets.slice(0, GENERATED_JETS)
    return JetBatch(first.images.copy(), **{k: v.copy() for k, v in first.scalars().items()},
                    source=physics_jets.source)


@pytest.fixture(scope="session")
def generated_file_factory(generated_jets: JetBatch,
                           tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``factory(ext)`` -> path of a ``generated_jets`` file in that format (``.parquet``, ``.h5``,
    ``.root``, ``.gvh``), written through ``gvae.io.write_jets`` once per session. Treat it as read-only."""
    from gvae import io

    out_dir = tmp_path_factory.mktemp("generated-files")
    made: dict[str, Path] = {}

    def factory(ext: str) -> Path:
        ext = ext if ext.startswith(".") else f".{ext}"
        if ext not in made:
            path = out_dir / f"generated{ext}"
            io.write_jets(path, generated_jets)
            made[ext] = path
        return made[ext]

    return factory
