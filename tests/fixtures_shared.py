"""Session fixtures built once per test run, also when pytest-xdist spreads the tests over workers.

``make test`` runs pytest with ``-n <cores>`` (pytest-xdist): each worker is its own process with its
own session fixtures, so a plain session fixture (an AOTInductor compile, the cmssw_example build, a
tiny training) would be built once per worker. :func:`built_once` builds it once for the whole run:
the first worker to need it builds it under a file lock in a folder shared by every worker of the run
(pytest's ``basetemp`` parent, which xdist gives each run anew), stores the fixture's value (paths,
numbers) next to it, and every other worker waits for the lock and reads the stored value. Without
xdist it is a plain ``mktemp`` folder. The fixtures are deterministic (seeded), so which worker built
them does not change any test.
"""
from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Callable, TypeVar

import pytest
from filelock import FileLock

__all__ = ["built_once", "xdist_worker"]

T = TypeVar("T")


def xdist_worker() -> str | None:
    """The pytest-xdist worker id (``gw0``, ``gw1``, ...) of this process, None without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """``build(folder)`` run once per test run, shared by the xdist workers; returns its value.

    ``folder`` is a new empty directory named after ``name``; the value must pickle (paths, numbers,
    dicts of them). A build that raises stores nothing, so the next worker that needs it tries again
    (and fails the same way, naming the same error in its own test).
    """
    if xdist_worker() is None:
        return build(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent   # shared by the workers of this run only
    value_file = root / f"{name}.value.pkl"
    with FileLock(str(root / f"{name}.lock")):
        if value_file.exists():
            return pickle.loads(value_file.read_bytes())
        folder = root / name
        if folder.exists():                        # a failed earlier attempt: start clean
            shutil.rmtree(folder)
        folder.mkdir()
        value = build(folder)
        tmp = value_file.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(value))
        os.replace(tmp, value_file)
        return value
