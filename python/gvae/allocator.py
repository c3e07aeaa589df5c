"""Process-wide glibc ``malloc`` settings for the commands that run a model many times.

A forward of the latent decoder allocates and frees activation tensors of 10-20 MB per batch
(``[B * W, hidden]``). glibc serves blocks above its mmap threshold with fresh ``mmap`` pages and trims
the heap top after a free, so every call pays page faults for memory it just gave back.
:func:`keep_freed_memory` sets the mmap threshold to glibc's largest (32 MiB) and switches off trimming,
so freed blocks are reused: ``benchmarks/results/malloc.md`` measures eager and libgvae calls side by
side (both settings in alternating child processes). The cost is a resident size that stays at its high
water mark.

``python -m gvae.simulate`` and ``python -m gvae.evaluate`` call it at start; ``GVAE_MALLOC_TUNING=0``
turns it off. A C++ host sets the same two knobs with ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=
33554432:glibc.malloc.trim_threshold=2147483647`` (or links jemalloc/tcmalloc, as CMSSW does): libgvae
does not touch the host's allocator.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

#: ``mallopt`` parameters (glibc ``malloc.h``)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: glibc's largest mmap threshold on 64-bit (``DEFAULT_MMAP_THRESHOLD_MAX``)
MMAP_THRESHOLD = 32 * 1024 * 1024
#: no trimming of the heap top (the largest value ``mallopt`` takes)
TRIM_THRESHOLD = 2 ** 31 - 1
#: the same settings for a process started from outside (``GLIBC_TUNABLES``)
GLIBC_TUNABLES = f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD}:glibc.malloc.trim_threshold={TRIM_THRESHOLD}"


def keep_freed_memory() -> bool:
    """Apply the settings of the module docstring to this process; True when glibc took them (False on
    another C library or platform, or with ``GVAE_MALLOC_TUNING=0``)."""
    if os.environ.get("GVAE_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    log.debug("malloc: mmap threshold %d B, no trimming: %s", MMAP_THRESHOLD, "set" if ok else "not set")
    return ok


__all__ = ["GLIBC_TUNABLES", "keep_freed_memory"]
