"""Evaluation plots in the mplhep (CMS) style: EMD histograms, event displays on a log colour scale
(the paper's Figure 3 layout, one column per channel), observable histograms with ratio panels and
the radial energy profile. Every function writes one PNG and returns its path."""
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
from gvae.evaluate.hits import Hits  # noqa: E402
from gvae.evaluate.observables import OBSERVABLES, RADIAL_EDGES  # noqa: E402

#: Colours of the three samples, the same in every plot.
COLOURS = {"original": "black", "gvae": "tab:blue", "baseline": "tab:orange"}
LABELS = {"original": "Original", "gvae": "GVAE", "baseline": "PCA baseline"}


def _style() -> None:
    hep.style.use("CMS")
    plt.rcParams.update({"font.size": 14, "figure.dpi": 100})


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def render(hits: Hits) -> np.ndarray:
    """Hits -> image float64 ``[3, 125, 125]`` (GeV per pixel) for display.

    A hit lands in the pixel containing its (x, y); HCAL hits are spread over the 5 x 5 pixels of
    their tower (energy / 25 each, the end-to-end convention). Hits outside the window are dropped
    from the picture only.
    """
    size, tower = geometry.IMAGE_SIZE, geometry.HCAL_TOWER_PIXELS
    img = np.zeros((geometry.N_CHANNELS, size, size))
    ie = np.floor(hits.x / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)
    ip = np.floor(hits.y / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)
    inside = (ie >= 0) & (ie < size) & (ip >= 0) & (ip < size)
    for c in range(geometry.N_CHANNELS):
        sel = inside & (hits.channel == c)
        if c == geometry.HCAL:
            t = np.zeros((size // tower, size // tower))
            np.add.at(t, (ie[sel] // tower, ip[sel] // tower), hits.energy[sel])
            img[c] = np.kron(t, np.ones((tower, tower))) / tower ** 2
        else:
            np.add.at(img[c], (ie[sel], ip[sel]), hits.energy[sel])
    return img


def event_display(rows: Mapping[str, Hits], path: Path, title: str = "") -> Path:
    """One jet: a row per sample (original, GVAE, baseline), a column per channel, log colour scale
    shared down each column. Axes in (eta, phi) offset from the jet axis."""
    _style()
    images = {name: render(h) for name, h in rows.items()}
    half = geometry.IMAGE_SIZE / 2 * geometry.PIXEL_SIZE
    fig, axes = plt.subplots(len(rows), geometry.N_CHANNELS, figsize=(6 * geometry.N_CHANNELS, 5.2 * len(rows)),
                             squeeze=False)
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
            fig.colorbar(mesh, ax=ax, label="E [GeV]" if channel != "track" else "$p_T$ [GeV]")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def emd_histograms(emds: Mapping[str, np.ndarray], path: Path, R: float) -> Path:
    """EMD distributions per channel (and all channels), GVAE vs baseline.

    emds: sample name -> float64 ``[n_jets, 4]`` (columns as :data:`EMD_CHANNELS`)."""
    _style()
    fig, axes = plt.subplots(2, 2, figsize=(14, 11))
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
    fig.tight_layout()
    return _save(fig, path)


def _ratio_plot(path: Path, xlabel: str, edges: np.ndarray, heights: Mapping[str, np.ndarray],
                ylabel: str, logy: bool = False) -> Path:
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(9, 9), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ref = heights["original"]
    for name, h in heights.items():
        hep.histplot(h, edges, ax=ax, color=COLOURS.get(name), label=LABELS.get(name, name), lw=2)
        if name != "original":
            ratio = np.divide(h, ref, out=np.full_like(h, np.nan, dtype=np.float64), where=ref > 0)
            hep.histplot(ratio, edges, ax=rax, color=COLOURS.get(name), lw=2)
    rax.axhline(1.0, color="black", ls="--", lw=1)
    rax.set_ylim(0.0, 2.0)
    rax.set_ylabel("Reco / Orig.")
    rax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=12)
    fig.tight_layout()
    return _save(fig, path)


def observable_histogram(name: str, values: Mapping[str, np.ndarray], path: Path) -> Path:
    """Distribution of one observable for original, GVAE and baseline, with a ratio panel."""
    _style()
    allv = np.concatenate(list(values.values()))
    lo, hi = np.quantile(allv, [0.001, 0.999]) if allv.size else (0.0, 1.0)
    if name.startswith("n_hits"):
        lo, hi = np.floor(lo) - 0.5, np.ceil(hi) + 0.5
        edges = np.arange(lo, hi + 1.0, max(1.0, np.ceil((hi - lo) / 40)))
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 41)
    heights = {k: np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)[0].astype(np.float64)
               for k, v in values.items()}
    return _ratio_plot(path, f"{name}: {OBSERVABLES.get(name, '')}", edges, heights, "Jets")


def radial_profile_plot(profiles: Mapping[str, np.ndarray], path: Path) -> Path:
    """Mean energy-weighted radial profile ``[n_bins]`` per sample, with a ratio panel."""
    _style()
    edges = RADIAL_EDGES
    heights = {k: np.asarray(v, dtype=np.float64) for k, v in profiles.items()}
    return _ratio_plot(path, r"$\Delta R$ from the jet axis", edges, heights, "Mean energy fraction", logy=True)


def all_observable_histograms(tables: Mapping[str, Mapping[str, np.ndarray]], out_dir: Path,
                              names: Sequence[str] = tuple(OBSERVABLES)) -> list[Path]:
    """One histogram per observable. tables: sample -> observable -> ``[n_jets]``."""
    return [observable_histogram(n, {k: t[n] for k, t in tables.items()}, out_dir / f"observable_{n}.png")
            for n in names]
