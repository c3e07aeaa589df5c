"""Plots of the generation evaluation, per jet type: generated vs real distributions with ratio
panels, a gallery of generated jets beside real ones (a column per channel) and average images.

The mplhep CMS style is applied per figure (:func:`gvae.plotstyle.figure_style`), never globally.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from gvae import geometry  # noqa: E402
from gvae.plotstyle import figure_style  # noqa: E402
from gvae.data.display import save_figure  # noqa: E402

#: Distributions drawn (a panel pair each).
DISTRIBUTIONS: tuple[str, ...] = ("mass_calo", "pt_calo", "energy_track", "energy_ecal", "energy_hcal", "n_hits_track",
                                  "n_hits_ecal", "n_hits_hcal", "mean_radius", "hit_log_energy_all", "hit_x_all",
                                  "hit_y_all")
_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
_HALF = geometry.IMAGE_SIZE / 2 * geometry.PIXEL_SIZE


def _colour(names: list[str], name: str) -> str:
    if name == "real":
        return "black"
    if name == "real_floor":
        return "grey"
    others = [n for n in names if n not in ("real", "real_floor")]
    return _COLOURS[others.index(name) % len(_COLOURS)]


def _label(name: str) -> str:
    return {"real": "Pythia (reference half)", "real_floor": "Pythia (floor half)"}.get(name, name)


def distributions(features: Mapping[str, object], path: Path, title: str) -> str:
    """Histograms of :data:`DISTRIBUTIONS` per sample, ratio to the reference below.
    features: sample name -> :class:`gvae.evaluate.generation.SampleFeatures`."""
    names = list(features)
    cols = 4
    rows = -(-len(DISTRIBUTIONS) // cols)
    with figure_style():
        # fixed margins, no layout engine: constrained layout costs seconds per figure of this size
        fig = plt.figure(figsize=(5.5 * cols, 5.5 * rows))
        grid = fig.add_gridspec(2 * rows, cols, height_ratios=[3, 1] * rows, left=0.05, right=0.99, bottom=0.05,
                                top=0.95, wspace=0.3, hspace=0.45)
        for i, var in enumerate(DISTRIBUTIONS):
            r, c = divmod(i, cols)
            ax = fig.add_subplot(grid[2 * r, c])
            rax = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
            values = {k: np.asarray(f.values(var), dtype=np.float64) for k, f in features.items()}
            allv = np.concatenate(list(values.values()) + [np.zeros(1)])
            lo, hi = np.quantile(allv, [0.002, 0.998])
            if var.startswith("n_hits"):
                edges = np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5, max(1.0, np.ceil((hi - lo) / 30)))
            else:
                edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 31)
            ref = None
            for k, v in values.items():
                h = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)[0].astype(np.float64)
                h = h / max(h.sum(), 1.0)
                mplhep.histplot(h, edges, ax=ax, color=_colour(names, k), label=_label(k), lw=2,
                             ls="--" if k == "real_floor" else "-")
                if k == "real":
                    ref = h
                elif ref is not None:
                    ratio = np.divide(h, ref, out=np.full_like(h, np.nan), where=ref > 0)
                    mplhep.histplot(ratio, edges, ax=rax, color=_colour(names, k), lw=2, ls="--" if k == "real_floor" else "-")
            for a in (ax, rax):
                a.minorticks_off()
            rax.axhline(1.0, color="black", lw=1, ls=":")
            rax.set_ylim(0.0, 2.0)
            rax.set_ylabel("/ reference", fontsize=11)
            rax.set_xlabel(var, fontsize=12)
            ax.set_ylabel("Fraction", fontsize=12)
            ax.tick_params(labelbottom=False)
            if i == 0:
                ax.legend(fontsize=10)
        fig.suptitle(title)
        return Path(save_figure(fig, path, dpi=None, close=True)).name


def _image_panel(ax: plt.Axes, img: np.ndarray, norm: LogNorm, title: str):
    data = np.ma.masked_less_equal(img.T, 0.0)
    mesh = ax.imshow(data, origin="lower", extent=(-_HALF, _HALF, -_HALF, _HALF), norm=norm, cmap="viridis")
    ax.set_title(title, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])
    return mesh


def _log_norm(images: list[np.ndarray]) -> LogNorm:
    positive = np.concatenate([i[i > 0] for i in images] + [np.zeros(0)])
    vmax = float(positive.max()) if positive.size else 1.0
    vmin = max(float(positive.min()) if positive.size else 1e-3, vmax * 1e-4)
    return LogNorm(vmin=vmin, vmax=max(vmax, vmin * 10))


def image_grid(rows: Mapping[str, np.ndarray], path: Path, title: str, unit: str = "E [GeV]") -> str:
    """A row per entry (label -> image ``[3, 125, 125]``), a column per channel, log colour scale shared
    down each column."""
    labels = list(rows)
    with figure_style():
        fig, axes = plt.subplots(len(labels), geometry.N_CHANNELS, figsize=(4.5 * geometry.N_CHANNELS, 4.0 * len(labels)),
                                 squeeze=False)
        fig.subplots_adjust(left=0.02, right=0.92, bottom=0.02, top=1.0 - 0.6 / len(labels), wspace=0.35, hspace=0.25)
        for c, channel in enumerate(geometry.CHANNELS):
            norm = _log_norm([rows[k][c] for k in labels])
            mesh = None
            for r, k in enumerate(labels):
                mesh = _image_panel(axes[r, c], rows[k][c], norm, f"{k}: {channel}")
            fig.colorbar(mesh, ax=axes[:, c].tolist(), label=unit, shrink=0.6)
        fig.suptitle(title)
        return Path(save_figure(fig, path, dpi=None, close=True)).name


def all_plots(samples: Mapping[str, Mapping[str, object]], features: Mapping[str, Mapping[str, object]], out: Path,
              gallery: int = 2) -> list[str]:
    """Every generation plot; returns file names relative to ``out``.

    samples: jet type -> sample name -> :class:`~gvae.evaluate.generation.JetSample` ("real",
    "real_floor", generators); features: jet type -> sample name -> ``SampleFeatures``.
    """
    from gvae.evaluate.images import average_images, hits_to_image

    files = []
    for t, by_name in samples.items():
        files.append(distributions(features[t], out / f"generation_{t}_distributions.png",
                                   f"{t}: generated vs Pythia (normalised)"))
        files.append(image_grid({k: average_images(s.hits) for k, s in by_name.items()},
                                out / f"generation_{t}_average_images.png", f"{t}: average images"))
        for name, s in by_name.items():
            if name in ("real", "real_floor"):
                continue
            k = min(gallery, len(s), len(by_name["real"]))
            rows = {}
            for j in range(k):
                rows[f"Pythia {j}"] = hits_to_image(by_name["real"].hits[j])
                rows[f"{name} {j}"] = hits_to_image(s.hits[j])
            files.append(image_grid(rows, out / f"generation_{t}_gallery_{name}.png", f"{t}: {name} beside Pythia jets"))
    return files
