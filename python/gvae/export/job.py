"""The whole export job: :func:`export` writes every requested format of one :class:`ExportSource`
with its contract (embedded and as a sidecar) and returns an :class:`ExportResult`."""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from gvae.export import contract as gc
from gvae.export.formats import DEFAULT_MAX_BATCH, FORMAT_SUFFIX, export_aoti, export_torchscript
from gvae.export.source import ExportSource, resolve_device
from gvae.export.verify import VerifyReport

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """Paths written by :func:`export` and how long each artifact took."""

    artifacts: dict[str, Path]
    sidecars: dict[str, Path]
    seconds: dict[str, float]
    report: VerifyReport | None = None


def export(source: ExportSource, out_dir: Path, *, formats: Sequence[str] = gc.FORMATS,
           device: str = "cpu", name: str = "gvae", max_batch: int = DEFAULT_MAX_BATCH,
           portable: bool = False) -> ExportResult:
    """Export ``source`` in each of ``formats`` to ``out_dir/<name>.{pt,pt2}`` with sidecars."""
    dev = resolve_device(device)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ExportResult({}, {}, {})
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # one for all formats
    for fmt in formats:
        path = out_dir / f"{name}{FORMAT_SUFFIX[fmt]}"
        doc = source.contract(name=name, fmt=fmt, device=dev.type, created_utc=created)
        log.info("exporting %s -> %s", fmt, path)
        t0 = time.perf_counter()
        if fmt == "torchscript":
            export_torchscript(source, path, dev, doc)
        else:
            export_aoti(source, path, dev, doc, max_batch=max_batch, portable=portable)
        result.seconds[fmt] = time.perf_counter() - t0
        result.artifacts[fmt] = path
        result.sidecars[fmt] = gc.write_sidecar(path, doc)
        log.info("wrote %s (%.1f kB) in %.1f s, contract %s", path, path.stat().st_size / 1e3,
                 result.seconds[fmt], result.sidecars[fmt])
    source.model.to("cpu")
    return result
