"""One description of the machine for every benchmark: CPU model, usable cores, load average,
torch version and threads, library versions, date (UTC) and, for CUDA runs, the GPU.

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so their own folder is on
``sys.path`` and ``from _machine import machine`` finds this file.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

#: where every benchmark writes its results
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (its affinity set), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def machine(*dists: str, device: str = "cpu") -> dict[str, Any]:
    """The machine a benchmark ran on, as a JSON-able dict.

    Keys: ``cpu``, ``cores``, ``load_average_1min``, ``python``, ``platform``, ``date`` (UTC, ISO),
    ``threads`` (torch intra-op threads), the versions of ``torch``, ``numpy`` and of ``dists``
    (None where not installed), and ``gpu``/``cuda`` when ``device == "cuda"`` and one is present.
    """
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(), "cores": usable_cores(), "load_average_1min": load_average(),
        "python": platform.python_version(), "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "threads": torch.get_num_threads()}
    for dist in ("torch", "numpy", *dists):
        try:
            info[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            info[dist] = None
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def describe(m: dict[str, Any]) -> str:
    """One line for a results table: CPU, cores, torch, threads, load average and date."""
    return (f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads), "
            f"load average {m['load_average_1min']}, {m['date']}")


def write_results(stem: str, result: dict[str, Any], lines: list[str]) -> None:
    """Write ``result`` to ``results/<stem>.json`` and the markdown ``lines`` to ``results/<stem>.md``,
    and print the markdown."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
