"""Evaluation plots in the mplhep (CMS) style: EMD histograms, event displays on a log colour scale
(the paper's Figure 3 layout, one column per channel), observable histograms with ratio panels (one
figure, a panel pair per observable) and the radial energy profile. Every function writes one PNG and returns its path."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from gvae import geometry  # noqa: E402
from gvae.evaluate.emd import EMD_CHANNELS  # noqa: E402
from gvae.jets import Hits, paint  # noqa: E402
from gvae.plotstyle import styled  # noqa: E402
from gvae.evaluate.observables import OBSERVABLES, RADIAL_EDGES  # noqa: E402
from gvae.data.display import save_figure  # noqa: E402

#: Colours of the three samples, the same in every plot.
COLOURS = {"original": "black", "gvae": "tab:blue", "baseline": "tab:orange"}
LABELS = {"original": "Original", "gvae": "GVAE", "baseline": "PCA (given true mask+channel)"}


#: rcParams of the evaluation figures on top of the CMS style (set per figure, see gvae.plotstyle).
RC = {"font.size": 14, "figure.dpi": 100}


def render(hits: Hits) -> np.ndarray:
    """Hits -> image float64 ``[3, 125, 125]`` (GeV per pixel) for display.

    A hit lands in the pixel containing its (x, y); HCAL hits are spread over the 5 x 5 pixels of
    their tower (energy / 25 each, the end-to-end convention). Hits outside the window are dropped
    from the picture only.
    """
    size = geometry.IMAGE_SIZE
    ie = np.floor(hits.x / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)
    ip = np.floor(hits.y / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)
    inside = (ie >= 0) & (ie < size) & (ip >= 0) & (ip < size)
    n = int(inside.sum())
    return paint(1, np.zeros(n, np.int64), np.asarray(hits.channel)[inside], ie[inside], ip[inside],
                 np.asarray(hits.energy, np.float64)[inside], np.float64)[0]


@styled(RC)
def event_display(rows: Mapping[str, Hits], path: Path, title: str = "") -> Path:
    """One jet: a row per sample (original, GVAE, baseline), a column per channel, log colour scale
    shared down each column. Axes in (eta, phi) offset from the jet axis."""
    images = {name: render(h) for name, h in rows.items()}
    half = geometry.IMAGE_SIZE / 2 * geometry.PIXEL_SIZE
    # fixed margins, no layout engine: constrained layout of these panels costs seconds per figure
    fig, axes = plt.subplots(len(rows), geometry.N_CHANNELS, figsize=(6 * geometry.N_CHANNELS, 5.2 * len(rows)),
                             squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.97, bottom=0.06 / len(rows), top=1.0 - 0.5 / len(rows), wspace=0.45,
                        hspace=0.35)
    for c, channel in enumerate(geometry.CHANNELS):
        positive = np.concatenate([img[c][img[c] > 0] for img in images.values()] + [np.array([])])
        vmax = float(positive.max()) if positive.size else 1.0
        vmin = max(float(positive.min()) if positive.size else 1e-3, vmax * 1e-4)
        norm = LogNorm(vmin=vmin, vmax=max(vmax, vmin * 10))
        for r, (name, img) in enumerate(images.items()):
            ax = axes[r, c]
            data = np.ma.masked_less_equal(img[c].T, 0.0)
            mesh = ax.imshow(data, origin="lower", extent=(-half, half, -half, half), norm=norm, cmap="viridis")
            ax.set_title(f"{LABELS.get(name, name)}: {channel}", fontsize=14)
            ax.set_xlabel(r"$\Delta\eta$")
            ax.set_ylabel(r"$\Delta\phi$")
            ax.minorticks_off()  # the CMS style's minor ticks on 9 panels + log colour bars are slow to lay out
            bar = fig.colorbar(mesh, ax=ax, label="E [GeV]" if channel != "track" else "$p_T$ [GeV]")
            bar.ax.minorticks_off()
    if title:
        fig.suptitle(title)
    return Path(save_figure(fig, path, dpi=None, close=True))


@styled(RC)
def emd_histograms(emds: Mapping[str, np.ndarray], path: Path, R: float) -> Path:
    """EMD distributions per channel (and all channels), GVAE vs baseline.

    emds: sample name -> float64 ``[n_jets, 4]`` (columns as :data:`EMD_CHANNELS`)."""
    fig, axes = plt.subplots(2, 2, figsize=(14, 11), layout="constrained")
    for i, (ax, channel) in enumerate(zip(axes.ravel(), EMD_CHANNELS)):
        values = np.concatenate([v[:, i] for v in emds.values()])
        positive = values[values > 0]
        lo = max(float(positive.min()), 1e-3) if positive.size else 1e-3
        hi = max(float(values.max()), lo * 10)
        bins = np.geomspace(lo, hi * 1.01, 31)
        for name, v in emds.items():
            col = np.clip(v[:, i], lo, None)  # zeros land in the first bin, nothing is dropped
            ax.hist(col, bins=bins, histtype="step", lw=2, color=COLOURS.get(name), label=
                    f"{LABELS.get(name, name)} (median {np.median(v[:, i]):.3g})")
        ax.set_xscale("log")
        ax.set_xlabel(f"EMD [GeV], {channel}, R = {R}")
        ax.set_ylabel("Jets")
        ax.legend(fontsize=12)
    return Path(save_figure(fig, path, dpi=None, close=True))


def _edges(name: str, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """Bin edges covering the central 99.8 % of all samples (unit bins for hit counts)."""
    allv = np.concatenate(list(values.values()))
    lo, hi = np.quantile(allv, [0.001, 0.999]) if allv.size else (0.0, 1.0)
    if name.startswith("n_hits"):
        lo, hi = np.floor(lo) - 0.5, np.ceil(hi) + 0.5
        return np.arange(lo, hi + 1.0, max(1.0, np.ceil((hi - lo) / 40)))
    return np.linspace(lo, hi if hi > lo else lo + 1.0, 41)


def _draw_ratio(ax: plt.Axes, rax: plt.Axes, edges: np.ndarray, heights: Mapping[str, np.ndarray],
                xlabel: str, ylabel: str, logy: bool = False, legend: bool = True) -> None:
    """Histograms on ``ax`` and reco / original on ``rax`` (``heights`` must hold "original")."""
    ref = heights["original"]
    for name, h in heights.items():
        hep.histplot(h, edges, ax=ax, color=COLOURS.get(name), label=LABELS.get(name, name), lw=2)
        if name != "original":
            ratio = np.divide(h, ref, out=np.full_like(h, np.nan, dtype=np.float64), where=ref > 0)
            hep.histplot(ratio, edges, ax=rax, color=COLOURS.get(name), lw=2)
    for a in (ax, rax):
        a.minorticks_off()  # many panels: the CMS style's minor ticks dominate the layout time
    rax.axhline(1.0, color="black", ls="--", lw=1)
    rax.set_ylim(0.0, 2.0)
    rax.set_ylabel("Reco / Orig.", fontsize=11)
    rax.set_xlabel(xlabel, fontsize=12)
    ax.set_ylabel(ylabel, fontsize=12)
    ax.tick_params(labelbottom=False)
    if logy:
        ax.set_yscale("log")
    if legend:
        ax.legend(fontsize=10)


@styled(RC)
def observable_histograms(tables: Mapping[str, Mapping[str, np.ndarray]], path: Path,
                          names: Sequence[str] = tuple(OBSERVABLES), columns: int = 4) -> Path:
    """Every observable in one figure: per observable the distributions of original, GVAE and
    baseline with a reco / original ratio panel below. tables: sample -> observable -> ``[n_jets]``."""
    rows = -(-len(names) // columns)
    fig = plt.figure(figsize=(5.5 * columns, 5.5 * rows))  # fixed margins: constrained layout is slow here
    grid = fig.add_gridspec(2 * rows, columns, height_ratios=[3, 1] * rows, left=0.06, right=0.99, bottom=0.05,
                            top=0.98, wspace=0.35, hspace=0.45)
    for i, name in enumerate(names):
        r, c = divmod(i, columns)
        ax = fig.add_subplot(grid[2 * r, c])
        rax = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
        values = {k: np.asarray(t[name], dtype=np.float64) for k, t in tables.items()}
        edges = _edges(name, values)
        heights = {k: np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)[0].astype(np.float64)
                   for k, v in values.items()}
        unit = " [GeV]" if "[GeV]" in OBSERVABLES.get(name, "") else ""
        _draw_ratio(ax, rax, edges, heights, name + unit, "Jets", legend=i == 0)
    return Path(save_figure(fig, path, dpi=None, close=True))


@styled(RC)
def radial_profile_plot(profiles: Mapping[str, np.ndarray], path: Path) -> Path:
    """Mean energy-weighted radial profile ``[n_bins]`` per sample, with a ratio panel."""
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(9, 9), gridspec_kw={"height_ratios": [3, 1]}, sharex=True,
                                  layout="constrained")
    heights = {k: np.asarray(v, dtype=np.float64) for k, v in profiles.items()}
    _draw_ratio(ax, rax, RADIAL_EDGES, heights, r"$\Delta R$ from the jet axis", "Mean energy fraction", logy=True)
    return Path(save_figure(fig, path, dpi=None, close=True))
