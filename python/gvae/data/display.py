"""Plots of jet images: event displays (3 channels + combined, log colour scale, axes in eta/phi
offsets from the jet axis), the average image, and per-channel hit-count histograms.

Figures are made with the object API (no pyplot state) in the mplhep CMS style and written as PNG.
"""
from __future__ import annotations

import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gvae import geometry  # noqa: E402
from gvae.plotstyle import figure_style  # noqa: E402

CHANNEL_LABELS: tuple[str, ...] = ("Track $p_T$", "ECAL", "HCAL")
CHANNEL_CMAPS: tuple[str, ...] = ("Blues", "Greens", "Reds")
CHANNEL_COLOURS: tuple[str, ...] = ("tab:blue", "tab:green", "tab:red")

_HALF = (geometry.IMAGE_SIZE / 2) * geometry.PIXEL_SIZE
#: imshow extent in (phi, eta) offsets: pixel edges around the centre of pixel 62.
EXTENT = (geometry.pixel_to_offset(-0.5), geometry.pixel_to_offset(geometry.IMAGE_SIZE - 0.5),
          geometry.pixel_to_offset(-0.5), geometry.pixel_to_offset(geometry.IMAGE_SIZE - 0.5))


def _log_norm(values: np.ndarray) -> LogNorm | None:
    positive = values[values > 0]
    if positive.size == 0:
        return None
    vmin = float(positive.min())
    vmax = float(positive.max())
    return LogNorm(vmin=vmin, vmax=max(vmax, vmin * 10))


def image_panel(fig: Figure, ax, image: np.ndarray, title: str, cmap: str, label: str) -> None:
    """One image panel: rows = ieta (vertical axis = eta), columns = iphi (horizontal = phi)."""
    shown = np.where(image > 0, image, np.nan)
    norm = _log_norm(image)
    im = ax.imshow(shown, origin="lower", extent=EXTENT, cmap=cmap, norm=norm, interpolation="nearest",
                   aspect="equal")
    ax.set_title(title, fontsize=16)
    ax.set_xlabel(r"$\Delta\phi$", fontsize=16)
    ax.set_ylabel(r"$\Delta\eta$", fontsize=16)
    ax.tick_params(labelsize=12)
    if norm is not None:
        cbar = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.01)
        cbar.set_label(label, fontsize=13)
        cbar.ax.tick_params(labelsize=11)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: float | None = 80, close: bool = False) -> str:
    """Write ``fig`` to ``path`` (parent folders created; ``dpi`` None = the figure's own) and
    return the path; ``close`` releases a pyplot-managed figure afterwards."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi="figure" if dpi is None else dpi)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def event_display(image: np.ndarray, path: str | os.PathLike, title: str = "") -> str:
    """Event display of one image ``[3, 125, 125]``: track, ECAL, HCAL and all channels combined
    (summed), each on a log colour scale in GeV. Returns the written path."""
    image = np.asarray(image, dtype=np.float64)
    with figure_style():
        fig = Figure(figsize=(24, 6.5))
        axes = fig.subplots(1, 4, gridspec_kw=dict(left=0.04, right=0.98, bottom=0.12, top=0.86, wspace=0.3))
        for c in range(geometry.N_CHANNELS):
            hits = int(np.count_nonzero(image[c]))
            image_panel(fig, axes[c], image[c], f"{CHANNEL_LABELS[c]}: {hits} px, {image[c].sum():.0f} GeV",
                   CHANNEL_CMAPS[c], "GeV")
        image_panel(fig, axes[3], image.sum(axis=0), f"combined: {image.sum():.0f} GeV", "viridis", "GeV")
        if title:
            fig.suptitle(title, fontsize=18)
        return save_figure(fig, path)


def average_image(mean_image: np.ndarray, path: str | os.PathLike, n_jets: int, title: str = "") -> str:
    """The mean image over ``n_jets`` jets (``[3, 125, 125]``), per channel and combined, log scale;
    ``title`` defaults to "average of n_jets jets"."""
    mean_image = np.asarray(mean_image, dtype=np.float64)
    with figure_style():
        fig = Figure(figsize=(24, 6.5))
        axes = fig.subplots(1, 4, gridspec_kw=dict(left=0.04, right=0.98, bottom=0.12, top=0.86, wspace=0.3))
        for c in range(geometry.N_CHANNELS):
            image_panel(fig, axes[c], mean_image[c], f"mean {CHANNEL_LABELS[c]}", CHANNEL_CMAPS[c], "GeV / pixel")
        image_panel(fig, axes[3], mean_image.sum(axis=0), "mean, combined", "viridis", "GeV / pixel")
        fig.suptitle(title or f"average of {n_jets} jets", fontsize=18)
        return save_figure(fig, path)


def hit_count_histograms(counts: np.ndarray, path: str | os.PathLike,
                         labels: Sequence[str] = CHANNEL_LABELS) -> str:
    """Histograms of hits per jet, one panel per channel (``counts [n_jets, n_channels]``)."""
    counts = np.asarray(counts)
    with figure_style():
        fig = Figure(figsize=(7 * counts.shape[1], 6))
        axes = np.atleast_1d(fig.subplots(1, counts.shape[1], gridspec_kw=dict(left=0.07, right=0.98, bottom=0.14, top=0.92, wspace=0.25)))
        for c, ax in enumerate(axes):
            values = counts[:, c]
            top = int(values.max()) if len(values) else 1
            bins = np.linspace(0, max(top, 1) * 1.05 + 1, 31)
            h, edges = np.histogram(values, bins=bins)
            mplhep.histplot(h, edges, ax=ax, color=CHANNEL_COLOURS[c % 3], histtype="fill", alpha=0.6)
            ax.set_xlabel(f"{labels[c]} hits per jet", fontsize=16)
            ax.set_ylabel("jets", fontsize=16)
            ax.set_title(f"mean {values.mean():.1f}" if len(values) else "no jets", fontsize=14)
        return save_figure(fig, path)
