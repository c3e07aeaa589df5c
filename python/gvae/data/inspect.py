"""``inspect FILE``: per-channel hit and energy statistics of a jet file, event displays, the average
image and hit-count histograms."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from gvae import geometry, io

log = logging.getLogger(__name__)

_T = geometry.HCAL_TOWER_PIXELS
_NT = geometry.N_TOWERS


def channel_counts(images: np.ndarray) -> np.ndarray:
    """Hits per jet and channel ``[n, 3]``: nonzero pixels for track/ECAL, nonzero towers for HCAL."""
    counts = np.count_nonzero(images, axis=(2, 3)).astype(np.int64)
    hcal = images[:, geometry.HCAL].reshape(len(images), _NT, _T, _NT, _T)
    counts[:, geometry.HCAL] = np.count_nonzero(np.abs(hcal).sum(axis=(2, 4)), axis=(1, 2))
    return counts


@dataclass
class FileStats:
    """Per-jet hit counts ``[n, 3]`` (HCAL in towers), channel energies ``[n, 3]``, HCAL pixels ``[n]``,
    the mean image ``[3, 125, 125]``, labels ``[n]``, pt and m0 ``[n]``."""

    counts: np.ndarray
    energies: np.ndarray
    hcal_pixels: np.ndarray
    mean_image: np.ndarray
    y: np.ndarray
    pt: np.ndarray
    m0: np.ndarray

    @property
    def n_jets(self) -> int:
        return len(self.counts)

    def summary(self) -> dict[str, Any]:
        """Statistics as plain numbers (written to ``inspect.json``)."""
        def stats(v: np.ndarray) -> dict[str, float]:
            if len(v) == 0:
                return {"mean": 0.0, "std": 0.0, "min": 0.0, "median": 0.0, "max": 0.0}
            return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
                    "median": float(np.median(v)), "max": float(v.max())}
        out: dict[str, Any] = {"jets": self.n_jets, "top_jets": int((self.y == 1).sum()),
                               "qcd_jets": int((self.y == 0).sum()),
                               "unlabelled_jets": int((self.y < 0).sum()), "pt": stats(self.pt), "m0": stats(self.m0),
                               "channels": {}}
        for c, name in enumerate(geometry.CHANNELS):
            hits = self.counts[:, c]
            e = self.energies[:, c]
            out["channels"][name] = {
                "hit_unit": "tower" if c == geometry.HCAL else "pixel",
                "hits_per_jet": stats(hits), "energy_per_jet": stats(e),
                "mean_hit_energy": float(e.sum() / max(hits.sum(), 1)),
            }
        out["channels"]["hcal"]["pixels_per_jet"] = stats(self.hcal_pixels)
        return out


def collect(path: str | os.PathLike, start: int = 0, stop: int | None = None, keep_events: int = 0,
            progress: bool = True) -> tuple[FileStats, np.ndarray]:
    """Stream ``path`` and gather :class:`FileStats`; also returns the first ``keep_events`` images."""
    counts, energies, hcal_pixels, ys, pts, m0s, kept = [], [], [], [], [], [], []
    total = np.zeros((geometry.N_CHANNELS, geometry.IMAGE_SIZE, geometry.IMAGE_SIZE), dtype=np.float64)
    n_total = io.count_jets(path)
    n_kept = 0
    stop_ = n_total if stop is None else min(stop, n_total)
    with tqdm(total=max(stop_ - start, 0), unit="jet", desc="inspect", disable=not progress) as bar:
        for batch in io.iter_jets(path, start=start, stop=stop):
            images = batch.images
            counts.append(channel_counts(images))
            energies.append(images.sum(axis=(2, 3), dtype=np.float64))
            hcal_pixels.append(np.count_nonzero(images[:, geometry.HCAL], axis=(1, 2)))
            total += images.sum(axis=0, dtype=np.float64)
            ys.append(batch.y)
            pts.append(batch.pt)
            m0s.append(batch.m0)
            if n_kept < keep_events:
                take = images[:keep_events - n_kept]
                kept.append(take.copy())
                n_kept += len(take)
            bar.update(len(batch))
    n = sum(len(c) for c in counts)

    def cat(parts: list[np.ndarray], shape: tuple[int, ...], dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(shape, dtype)

    stats = FileStats(cat(counts, (0, 3), np.int64), cat(energies, (0, 3), np.float64),
                      cat(hcal_pixels, (0,), np.int64), total / max(n, 1), cat(ys, (0,), np.float32),
                      cat(pts, (0,), np.float32), cat(m0s, (0,), np.float32))
    events = cat(kept, (0, 3, geometry.IMAGE_SIZE, geometry.IMAGE_SIZE), np.float32)
    return stats, events


def format_table(summary: dict[str, Any], path: str) -> str:
    """A readable text table of :meth:`FileStats.summary`."""
    lines = [f"{path}: {summary['jets']} jets ({summary['top_jets']} top, {summary['qcd_jets']} QCD"
             f"{', ' + str(summary['unlabelled_jets']) + ' unlabelled' if summary.get('unlabelled_jets') else ''}); "
             f"jet pT mean {summary['pt']['mean']:.0f} GeV, mass mean {summary['m0']['mean']:.1f} GeV",
             "",
             f"{'channel':<8} {'unit':<6} {'hits/jet mean':>13} {'std':>7} {'min':>5} {'median':>7} {'max':>6}"
             f" | {'E/jet mean [GeV]':>16} {'std':>8} {'max':>8} | {'E/hit [GeV]':>11}"]
    lines.append("-" * len(lines[-1]))
    for name, ch in summary["channels"].items():
        h, e = ch["hits_per_jet"], ch["energy_per_jet"]
        lines.append(f"{name:<8} {ch['hit_unit']:<6} {h['mean']:>13.1f} {h['std']:>7.1f} {h['min']:>5.0f} "
                     f"{h['median']:>7.0f} {h['max']:>6.0f} | {e['mean']:>16.1f} {e['std']:>8.1f} {e['max']:>8.1f}"
                     f" | {ch['mean_hit_energy']:>11.3f}")
    hp = summary["channels"]["hcal"]["pixels_per_jet"]
    lines.append(f"(hcal pixels per jet in the image: mean {hp['mean']:.1f}, max {hp['max']:.0f}; "
                 f"{geometry.HCAL_TOWER_PIXELS}x{geometry.HCAL_TOWER_PIXELS} pixels per tower)")
    return "\n".join(lines)


def inspect(path: str | os.PathLike, out_dir: str | os.PathLike | None = None, events: int = 4,
            start: int = 0, stop: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Print the statistics table; with ``out_dir`` also write ``inspect.json`` and the plots
    (``event_NNNNN.png``, ``average_image.png``, ``hit_counts.png``). Returns the summary, with the
    written files under ``"plots"``."""
    path = os.fspath(path)
    stats, images = collect(path, start, stop, keep_events=events if out_dir is not None else 0,
                            progress=progress)
    summary = stats.summary()
    print(format_table(summary, path), flush=True)
    if out_dir is None:
        return summary
    from gvae.data import display  # matplotlib only when plots are asked for

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = []
    for i, image in enumerate(images):
        row = start + i
        label = "top" if stats.y[i] == 1 else ("QCD" if stats.y[i] == 0 else "unlabelled")
        plots.append(display.event_display(
            image, out / f"event_{row:05d}.png",
            title=f"{Path(path).name} row {row}: {label} jet, $p_T$ = {stats.pt[i]:.0f} GeV, "
                  f"m = {stats.m0[i]:.0f} GeV"))
    if stats.n_jets:
        plots.append(display.average_image(stats.mean_image, out / "average_image.png", stats.n_jets))
        plots.append(display.hit_count_histograms(stats.counts, out / "hit_counts.png",
                                                  labels=("Track", "ECAL", "HCAL tower")))
    summary["plots"] = [os.path.relpath(p, out) for p in plots]
    (out / "inspect.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("wrote %d plots and inspect.json to %s", len(plots), out)
    return summary
