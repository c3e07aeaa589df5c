"""``inspect FILE [--compare OTHER]``: per-channel hit, occupancy and energy statistics of a jet
file, event displays, the average image (all jets and top jets), occupancy maps and hit-count
histograms; with ``--compare``, the same for a second file and the per-channel differences (e.g. the
same seed generated with and without pile-up, ``--pileup 0``)."""
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
#: Hits below this energy (GeV) are counted as soft (pile-up, noise, curling-track remnants).
SOFT_HIT_GEV = 1.0
#: Cells per channel: pixels for track and ECAL, towers for HCAL.
CELLS = (geometry.IMAGE_SIZE ** 2, geometry.IMAGE_SIZE ** 2, _NT ** 2)


def channel_counts(images: np.ndarray) -> np.ndarray:
    """Hits per jet and channel ``[n, 3]``: nonzero pixels for track/ECAL, nonzero towers for HCAL."""
    counts = np.count_nonzero(images, axis=(2, 3)).astype(np.int64)
    hcal = images[:, geometry.HCAL].reshape(len(images), _NT, _T, _NT, _T)
    counts[:, geometry.HCAL] = np.count_nonzero(np.abs(hcal).sum(axis=(2, 4)), axis=(1, 2))
    return counts


def soft_counts(images: np.ndarray, below: float = SOFT_HIT_GEV) -> np.ndarray:
    """Hits with ``0 < E < below`` GeV per jet and channel ``[n, 3]`` (HCAL: towers, by tower energy)."""
    counts = np.count_nonzero((images > 0) & (images < below), axis=(2, 3)).astype(np.int64)
    towers = images[:, geometry.HCAL].reshape(len(images), _NT, _T, _NT, _T).sum(axis=(2, 4))
    counts[:, geometry.HCAL] = np.count_nonzero((towers > 0) & (towers < below), axis=(1, 2))
    return counts


@dataclass
class FileStats:
    """Per-jet hit counts ``[n, 3]`` (HCAL in towers), channel energies ``[n, 3]``, HCAL pixels ``[n]``,
    the mean image ``[3, 125, 125]``, labels ``[n]``, pt and m0 ``[n]``; soft hits (< 1 GeV) per jet
    ``[n, 3]``, the occupancy map (fraction of jets with a hit in each pixel) ``[3, 125, 125]`` and
    the mean image of the top jets (y = 1) ``[3, 125, 125]``."""

    counts: np.ndarray
    energies: np.ndarray
    hcal_pixels: np.ndarray
    mean_image: np.ndarray
    y: np.ndarray
    pt: np.ndarray
    m0: np.ndarray
    soft: np.ndarray = None  # type: ignore[assignment]
    occupancy: np.ndarray = None  # type: ignore[assignment]
    mean_image_top: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        shape = (geometry.N_CHANNELS, geometry.IMAGE_SIZE, geometry.IMAGE_SIZE)
        if self.soft is None:
            self.soft = np.zeros_like(self.counts)
        if self.occupancy is None:
            self.occupancy = np.zeros(shape)
        if self.mean_image_top is None:
            self.mean_image_top = np.zeros(shape)

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
                "occupancy": float(hits.mean() / CELLS[c]) if len(hits) else 0.0,
                "soft_hits_per_jet": stats(self.soft[:, c]),
                "soft_hit_threshold_gev": SOFT_HIT_GEV,
            }
        out["channels"]["hcal"]["pixels_per_jet"] = stats(self.hcal_pixels)
        return out


def collect(path: str | os.PathLike, start: int = 0, stop: int | None = None, keep_events: int = 0,
            progress: bool = True) -> tuple[FileStats, np.ndarray]:
    """Stream ``path`` and gather :class:`FileStats`; also returns the first ``keep_events`` images."""
    counts, energies, hcal_pixels, ys, pts, m0s, kept, soft = [], [], [], [], [], [], [], []
    total = np.zeros((geometry.N_CHANNELS, geometry.IMAGE_SIZE, geometry.IMAGE_SIZE), dtype=np.float64)
    total_top = np.zeros_like(total)
    hit_maps = np.zeros_like(total)
    n_total = io.count_jets(path)
    n_kept = 0
    stop_ = n_total if stop is None else min(stop, n_total)
    with tqdm(total=max(stop_ - start, 0), unit="jet", desc="inspect", disable=not progress) as bar:
        for batch in io.iter_jets(path, start=start, stop=stop):
            images = batch.images
            counts.append(channel_counts(images))
            soft.append(soft_counts(images))
            hit_maps += np.count_nonzero(images, axis=0)
            total_top += images[batch.y == 1].sum(axis=0, dtype=np.float64)
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

    y = cat(ys, (0,), np.float32)
    stats = FileStats(cat(counts, (0, 3), np.int64), cat(energies, (0, 3), np.float64),
                      cat(hcal_pixels, (0,), np.int64), total / max(n, 1), y,
                      cat(pts, (0,), np.float32), cat(m0s, (0,), np.float32), soft=cat(soft, (0, 3), np.int64),
                      occupancy=hit_maps / max(n, 1), mean_image_top=total_top / max(int((y == 1).sum()), 1))
    events = cat(kept, (0, 3, geometry.IMAGE_SIZE, geometry.IMAGE_SIZE), np.float32)
    return stats, events


def format_table(summary: dict[str, Any], path: str) -> str:
    """A readable text table of :meth:`FileStats.summary`."""
    lines = [f"{path}: {summary['jets']} jets ({summary['top_jets']} top, {summary['qcd_jets']} QCD"
             f"{', ' + str(summary['unlabelled_jets']) + ' unlabelled' if summary.get('unlabelled_jets') else ''}); "
             f"jet pT mean {summary['pt']['mean']:.0f} GeV, mass mean {summary['m0']['mean']:.1f} GeV",
             "",
             f"{'channel':<8} {'unit':<6} {'hits/jet mean':>13} {'std':>7} {'min':>5} {'median':>7} {'max':>6}"
             f" | {'occupancy':>9} {'soft/jet':>8} | {'E/jet mean [GeV]':>16} {'std':>8} {'max':>8} | {'E/hit [GeV]':>11}"]
    lines.append("-" * len(lines[-1]))
    for name, ch in summary["channels"].items():
        h, e = ch["hits_per_jet"], ch["energy_per_jet"]
        lines.append(f"{name:<8} {ch['hit_unit']:<6} {h['mean']:>13.1f} {h['std']:>7.1f} {h['min']:>5.0f} "
                     f"{h['median']:>7.0f} {h['max']:>6.0f} | {100 * ch['occupancy']:>8.2f}% "
                     f"{ch['soft_hits_per_jet']['mean']:>8.1f} | {e['mean']:>16.1f} {e['std']:>8.1f} {e['max']:>8.1f}"
                     f" | {ch['mean_hit_energy']:>11.3f}")
    hp = summary["channels"]["hcal"]["pixels_per_jet"]
    lines.append(f"(hcal pixels per jet in the image: mean {hp['mean']:.1f}, max {hp['max']:.0f}; "
                 f"{geometry.HCAL_TOWER_PIXELS}x{geometry.HCAL_TOWER_PIXELS} pixels per tower; occupancy = hit "
                 f"cells / cells; soft = hits below {SOFT_HIT_GEV:g} GeV)")
    return "\n".join(lines)


def compare_summaries(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Per-channel differences ``a - b`` of hits, soft hits, occupancy and energy per jet (means)."""
    out: dict[str, Any] = {}
    for name in geometry.CHANNELS:
        ca, cb = a["channels"][name], b["channels"][name]
        out[name] = {
            "hits_per_jet": ca["hits_per_jet"]["mean"] - cb["hits_per_jet"]["mean"],
            "soft_hits_per_jet": ca["soft_hits_per_jet"]["mean"] - cb["soft_hits_per_jet"]["mean"],
            "occupancy": ca["occupancy"] - cb["occupancy"],
            "energy_per_jet": ca["energy_per_jet"]["mean"] - cb["energy_per_jet"]["mean"],
        }
    return out


def format_comparison(a: dict[str, Any], b: dict[str, Any], label_a: str, label_b: str) -> str:
    """Side-by-side table of two summaries (means per jet) and their difference."""
    diff = compare_summaries(a, b)
    head = (f"{'channel':<8} {'quantity':<12} {label_a[:18]:>18} {label_b[:18]:>18} {'difference':>11}")
    lines = [f"comparison: A = {label_a} ({a['jets']} jets), B = {label_b} ({b['jets']} jets); means per jet",
             "", head, "-" * len(head)]
    for name in geometry.CHANNELS:
        ca, cb = a["channels"][name], b["channels"][name]
        rows = (("hits", ca["hits_per_jet"]["mean"], cb["hits_per_jet"]["mean"], diff[name]["hits_per_jet"], "{:.1f}"),
                ("soft hits", ca["soft_hits_per_jet"]["mean"], cb["soft_hits_per_jet"]["mean"],
                 diff[name]["soft_hits_per_jet"], "{:.1f}"),
                ("occupancy %", 100 * ca["occupancy"], 100 * cb["occupancy"], 100 * diff[name]["occupancy"], "{:.2f}"),
                ("energy GeV", ca["energy_per_jet"]["mean"], cb["energy_per_jet"]["mean"],
                 diff[name]["energy_per_jet"], "{:.1f}"))
        for label, va, vb, d, fmt in rows:
            lines.append(f"{name:<8} {label:<12} {fmt.format(va):>18} {fmt.format(vb):>18} {fmt.format(d):>11}")
    return "\n".join(lines)


def occupancy_maps(occupancy: np.ndarray, path: str | os.PathLike, n_jets: int, title: str = "") -> str:
    """Fraction of jets with a hit in each pixel ``[3, 125, 125]``, one panel per channel (log scale)."""
    from matplotlib.figure import Figure

    from gvae.data import display
    from gvae.plotstyle import figure_style

    with figure_style():
        fig = Figure(figsize=(18, 6.5))
        axes = fig.subplots(1, 3, gridspec_kw=dict(left=0.05, right=0.97, bottom=0.12, top=0.86, wspace=0.3))
        for c in range(geometry.N_CHANNELS):
            display.image_panel(fig, axes[c], occupancy[c], f"{display.CHANNEL_LABELS[c]} occupancy",
                                display.CHANNEL_CMAPS[c], "fraction of jets")
        fig.suptitle(title or f"occupancy, {n_jets} jets", fontsize=18)
        return display.save_figure(fig, path)


def comparison_plot(a: FileStats, b: FileStats, label_a: str, label_b: str, path: str | os.PathLike) -> str:
    """Hits per jet (top row) and energy per jet (bottom row) per channel, both files overlaid."""
    import mplhep
    from matplotlib.figure import Figure

    from gvae.data import display
    from gvae.plotstyle import figure_style

    with figure_style():
        fig = Figure(figsize=(21, 11))
        axes = fig.subplots(2, 3, gridspec_kw=dict(left=0.06, right=0.98, bottom=0.08, top=0.93, wspace=0.25,
                                                  hspace=0.35))
        for row, (values_a, values_b, what) in enumerate(((a.counts, b.counts, "hits"),
                                                          (a.energies, b.energies, "sum [GeV]"))):
            for c in range(geometry.N_CHANNELS):
                ax = axes[row, c]
                both = np.concatenate([values_a[:, c], values_b[:, c]]).astype(np.float64)
                top = float(both.max()) if len(both) else 1.0
                bins = np.linspace(0.0, max(top, 1.0) * 1.05, 31)
                for values, label, style in ((values_a[:, c], label_a, "fill"), (values_b[:, c], label_b, "step")):
                    h, edges = np.histogram(values, bins=bins)
                    mplhep.histplot(h, edges, ax=ax, histtype=style, alpha=0.6 if style == "fill" else 1.0,
                                    label=f"{label}: mean {values.mean():.1f}" if len(values) else label)
                ax.set_xlabel(f"{display.CHANNEL_LABELS[c]} {what} per jet", fontsize=15)
                ax.set_ylabel("jets", fontsize=15)
                ax.legend(fontsize=11)
        return display.save_figure(fig, path)


def inspect(path: str | os.PathLike, out_dir: str | os.PathLike | None = None, events: int = 4,
            start: int = 0, stop: int | None = None, progress: bool = True,
            compare: str | os.PathLike | None = None) -> dict[str, Any]:
    """Print the statistics table; with ``out_dir`` also write ``inspect.json`` and the plots
    (``event_NNNNN.png``, ``average_image.png``, ``average_image_top.png``, ``occupancy.png``,
    ``hit_counts.png``). With ``compare`` (a second file, same rows read), also its table, the
    per-channel differences (``summary["compare"]``) and ``compare_channels.png``. Returns the
    summary, with the written files under ``"plots"``."""
    path = os.fspath(path)
    stats, images = collect(path, start, stop, keep_events=events if out_dir is not None else 0,
                            progress=progress)
    summary = stats.summary()
    print(format_table(summary, path), flush=True)
    other: FileStats | None = None
    if compare is not None:
        compare = os.fspath(compare)
        other, _ = collect(compare, start, stop, progress=progress)
        other_summary = other.summary()
        print("", format_table(other_summary, compare), "",
              format_comparison(summary, other_summary, Path(path).name, Path(compare).name),
              sep="\n", flush=True)
        summary["compare"] = {"file": compare, "summary": other_summary,
                              "difference": compare_summaries(summary, other_summary)}
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
        n_top = int((stats.y == 1).sum())
        if n_top:
            plots.append(display.average_image(stats.mean_image_top, out / "average_image_top.png", n_top,
                                               title=f"average of {n_top} top jets"))
        plots.append(occupancy_maps(stats.occupancy, out / "occupancy.png", stats.n_jets))
        plots.append(display.hit_count_histograms(stats.counts, out / "hit_counts.png",
                                                  labels=("Track", "ECAL", "HCAL tower")))
    if other is not None and stats.n_jets and other.n_jets:
        plots.append(comparison_plot(stats, other, Path(path).name, Path(os.fspath(compare)).name,
                                     out / "compare_channels.png"))
    summary["plots"] = [os.path.relpath(p, out) for p in plots]
    (out / "inspect.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("wrote %d plots and inspect.json to %s", len(plots), out)
    return summary
