"""Jet hits -> padded kNN graph (docs/DESIGN.md section 4), the reference the C++
``gvae::GraphBuilder`` matches bit for bit.

One jet becomes one graph over the hits of all three channels:

1. Hits ``(channel, ieta, iphi, energy)``; from an image, its nonzero pixels in row-major order over
   ``(channel, ieta, iphi)``. Validation raises :class:`gvae.errors.InvalidInput` naming the jet, the
   hit and the field. Zero-energy hits are ignored.
2. HCAL hits are summed per 5 x 5 tower, the node sits at the tower's centre pixel ``5*t + 2``;
   track/ECAL hits on the same pixel are summed too. Sums run in float64 in input order and are then
   cast to float32, so the 25 pixels of ``E/25`` of an end-to-end image give one node per tower.
3. Nodes are ordered by float32 energy descending, ties by channel, ieta, iphi ascending.
4. The first ``max_nodes`` nodes are kept. ``total_energy`` is the float64 sum of the node sums
   over all nodes and ``dropped_energy_fraction`` the float64 sum over the dropped nodes divided by
   it (both summed sequentially in node order, as in C++).
5. kNN in the (x, y) plane over all channels together, so that a track, its ECAL cluster and the
   HCAL tower behind it are neighbours of each other: squared distance in integer pixel units
   ``di^2 + dj^2``, ties by node index ascending, self excluded. A node with fewer than ``k`` other
   nodes fills the missing slots with its own index; padding rows hold their own index everywhere.
6. Node coordinates ``x = (ieta - 62) * 0.0174``, ``y = (iphi - 62) * 0.0174`` are computed in
   float64 and stored as float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from gvae import geometry
from gvae.errors import ConfigError, InvalidInput
from gvae.jets import Hits  # re-exported: gvae.graphs.build.Hits is gvae.jets.Hits

#: Name of this algorithm in the model contract (``graph.builder``).
BUILDER_NAME = "gvae-graph-v1"
FEATURES: tuple[str, ...] = ("x", "y", "energy", "channel")
DEFAULT_K = 8
DEFAULT_MAX_NODES = 400

_S = geometry.IMAGE_SIZE
_T = geometry.HCAL_TOWER_PIXELS


@dataclass
class Graph:
    """One jet as a padded graph (N = max_nodes).

    features: float32 ``[N, 4]`` = (x, y, energy, channel), zeros on padding rows.
    pixels: int32 ``[N, 2]`` = centre pixel (ieta, iphi), zeros on padding rows.
    neighbours: int64 ``[N, k]`` node indices; padding rows hold their own index.
    mask: bool ``[N]``, True on the ``n_nodes`` real rows.
    n_nodes: real nodes; n_hits: nodes before truncation; total_energy: GeV over all nodes;
    dropped_energy_fraction: energy of the truncated nodes / total_energy (0 for an empty jet).
    """

    features: np.ndarray
    pixels: np.ndarray
    neighbours: np.ndarray
    mask: np.ndarray
    n_nodes: int
    n_hits: int
    total_energy: float
    dropped_energy_fraction: float


def check_config(k: int, max_nodes: int) -> None:
    """Raise :class:`ConfigError` unless ``k >= 1`` and ``max_nodes >= 1``."""
    if int(k) != k or k < 1:
        raise ConfigError(f"graph k must be a positive integer, got {k!r}")
    if int(max_nodes) != max_nodes or max_nodes < 1:
        raise ConfigError(f"graph max_nodes must be a positive integer, got {max_nodes!r}")


def hits_from_image(image: np.ndarray) -> Hits:
    """The nonzero pixels of one image ``[3, 125, 125]``, row-major over (channel, ieta, iphi).

    NaN and negative pixels are returned too (they are nonzero) so that the builder rejects them.
    """
    image = np.asarray(image)
    expected = (geometry.N_CHANNELS, _S, _S)
    if image.shape != expected:
        raise InvalidInput(f"image must have shape {expected}, got {image.shape}", field="image")
    channel, ieta, iphi = np.nonzero(image)
    return Hits(channel.astype(np.int64), ieta.astype(np.int64), iphi.astype(np.int64),
                image[channel, ieta, iphi].astype(np.float32))


def _as_hits(hits: Hits | np.ndarray | tuple, jet: int) -> Hits:
    if isinstance(hits, Hits):
        if hits.ieta is None or hits.iphi is None:
            raise InvalidInput("hits off the pixel grid (x, y without ieta, iphi) cannot become a graph",
                               row=jet, field="ieta")
        return hits
    if isinstance(hits, np.ndarray) and hits.ndim == 3:
        return hits_from_image(hits)
    if isinstance(hits, (tuple, list)) and len(hits) == 4:
        return Hits(*(np.asarray(a) for a in hits))
    raise InvalidInput("expected an image [3, 125, 125], a Hits or a (channel, ieta, iphi, energy) tuple",
                       row=jet, field="hits")


def _integer_field(values: np.ndarray, name: str, jet: int) -> np.ndarray:
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidInput(f"jet {jet}, hit {i}: {name} must be an integer, got {values[i]!r}",
                               row=jet, field=name)
        return values.astype(np.int64)
    raise InvalidInput(f"jet {jet}: {name} has non-numeric dtype {values.dtype}", row=jet, field=name)


def validate(hits: Hits, jet: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check hits (DESIGN section 4.1) and return them as int64, int64, int64, float32 arrays.

    The first offending hit is reported, and for it the first bad field in the order
    channel, ieta, iphi, energy (the C++ builder reports the same hit and field).
    """
    channel = _integer_field(hits.channel, "channel", jet)
    ieta = _integer_field(hits.ieta, "ieta", jet)
    iphi = _integer_field(hits.iphi, "iphi", jet)
    energy = np.asarray(hits.energy).reshape(-1)
    if energy.dtype.kind not in "fiub":
        raise InvalidInput(f"jet {jet}: energy has non-numeric dtype {energy.dtype}", row=jet, field="energy")
    energy = energy.astype(np.float32)
    n = len(energy)
    if not (len(channel) == len(ieta) == len(iphi) == n):
        raise InvalidInput(f"jet {jet}: hit arrays differ in length (channel {len(channel)}, ieta {len(ieta)}, "
                           f"iphi {len(iphi)}, energy {n})", row=jet, field="hits")
    checks = (
        ("channel", (channel < 0) | (channel >= geometry.N_CHANNELS), "must be 0 (track), 1 (ecal) or 2 (hcal)"),
        ("ieta", (ieta < 0) | (ieta >= _S), f"must be in [0, {_S})"),
        ("iphi", (iphi < 0) | (iphi >= _S), f"must be in [0, {_S})"),
        ("energy", ~np.isfinite(energy), "must be finite"),
        ("energy", energy < 0, "must be >= 0"),
    )
    bad_any = np.zeros(n, dtype=bool)
    for _, bad, _ in checks:
        bad_any |= bad
    if bad_any.any():
        i = int(np.argmax(bad_any))
        for name, bad, what in checks:
            if bad[i]:
                value = {"channel": channel, "ieta": ieta, "iphi": iphi, "energy": energy}[name][i]
                raise InvalidInput(f"jet {jet}, hit {i}: {name} {what}, got {value}", row=jet, field=name)
    return channel, ieta, iphi, energy


def _nodes(channel: np.ndarray, ieta: np.ndarray, iphi: np.ndarray, energy: np.ndarray):
    """Aggregate hits into nodes and order them (DESIGN 4.2-4.3).

    Returns per node, in node order: channel, ieta, iphi (int64), energy float32, energy float64 sum.
    """
    keep = energy != 0
    channel, ieta, iphi, energy = channel[keep], ieta[keep], iphi[keep], energy[keep]
    hcal = channel == geometry.HCAL
    ieta = np.where(hcal, (ieta // _T) * _T + _T // 2, ieta)
    iphi = np.where(hcal, (iphi // _T) * _T + _T // 2, iphi)
    key = (channel * _S + ieta) * _S + iphi
    uniq, inverse = np.unique(key, return_inverse=True)
    # bincount adds the weights sequentially in input order, in float64 (as the C++ builder does).
    sums = np.bincount(inverse.reshape(-1), weights=energy.astype(np.float64), minlength=len(uniq))
    e32 = sums.astype(np.float32)
    n_channel = uniq // (_S * _S)
    n_ieta = (uniq // _S) % _S
    n_iphi = uniq % _S
    order = np.lexsort((n_iphi, n_ieta, n_channel, -e32))
    return n_channel[order], n_ieta[order], n_iphi[order], e32[order], sums[order]


def knn(ieta: np.ndarray, iphi: np.ndarray, k: int) -> np.ndarray:
    """kNN indices ``[n, k]`` int64 over integer pixel positions (DESIGN 4.5).

    Squared distance ``di^2 + dj^2``, ties by index ascending, self excluded, missing slots = self.
    """
    n = len(ieta)
    out = np.repeat(np.arange(n, dtype=np.int64)[:, None], k, axis=1)
    if n < 2:
        return out
    if n > 60000:  # keeps d2 * n + index inside int32 (d2 <= 2 * 124^2)
        raise ConfigError(f"kNN over {n} nodes is not supported (at most 60000)")
    ie = np.asarray(ieta, dtype=np.int32)
    ip = np.asarray(iphi, dtype=np.int32)
    di = ie[:, None] - ie[None, :]
    dj = ip[:, None] - ip[None, :]
    # One unique key per (row, column): distance first, then the column index, so any selection
    # algorithm gives the same, fully specified order. Self gets the largest key.
    key = (di * di + dj * dj) * np.int32(n) + np.arange(n, dtype=np.int32)[None, :]
    np.fill_diagonal(key, np.iinfo(np.int32).max)
    m = min(k, n - 1)
    nearest = np.partition(key, m - 1, axis=1)[:, :m] if m < n else key
    nearest = np.sort(nearest, axis=1)[:, :m]
    out[:, :m] = nearest % n
    return out


def _sequential_sum(values: np.ndarray) -> float:
    """Left-to-right float64 sum (numpy's ``sum`` is pairwise, C++ accumulates in order)."""
    return float(np.cumsum(values, dtype=np.float64)[-1]) if len(values) else 0.0


def build_graph(hits: Hits | np.ndarray | tuple, k: int = DEFAULT_K, max_nodes: int = DEFAULT_MAX_NODES,
                jet: int = 0) -> Graph:
    """Build the graph of one jet (DESIGN section 4).

    hits: an image ``[3, 125, 125]``, a :class:`Hits`, or a ``(channel, ieta, iphi, energy)`` tuple.
    jet: index used in error messages only.
    """
    check_config(k, max_nodes)
    channel, ieta, iphi, energy = validate(_as_hits(hits, jet), jet)
    n_channel, n_ieta, n_iphi, e32, sums = _nodes(channel, ieta, iphi, energy)
    n_hits = len(e32)
    n = min(n_hits, max_nodes)
    total = _sequential_sum(sums)
    dropped = _sequential_sum(sums[n:])
    features = np.zeros((max_nodes, 4), dtype=np.float32)
    features[:n, 0] = ((n_ieta[:n] - geometry.CENTRE_PIXEL) * geometry.PIXEL_SIZE).astype(np.float32)
    features[:n, 1] = ((n_iphi[:n] - geometry.CENTRE_PIXEL) * geometry.PIXEL_SIZE).astype(np.float32)
    features[:n, 2] = e32[:n]
    features[:n, 3] = n_channel[:n]
    pixels = np.zeros((max_nodes, 2), dtype=np.int32)
    pixels[:n, 0] = n_ieta[:n]
    pixels[:n, 1] = n_iphi[:n]
    neighbours = np.repeat(np.arange(max_nodes, dtype=np.int64)[:, None], k, axis=1)
    neighbours[:n] = knn(n_ieta[:n], n_iphi[:n], k)
    mask = np.zeros(max_nodes, dtype=bool)
    mask[:n] = True
    return Graph(features, pixels, neighbours, mask, n, n_hits, total,
                 dropped / total if total > 0 else 0.0)


#: Keys and dtypes of :func:`build_graphs` output (besides the per-node arrays of :class:`Graph`).
GRAPH_ARRAYS: dict[str, type] = {
    "features": np.float32, "pixels": np.int32, "neighbours": np.int64, "mask": np.bool_,
    "n_nodes": np.int32, "n_hits": np.int32, "total_energy": np.float64,
    "dropped_energy_fraction": np.float64,
}


def stack_graphs(graphs: Iterable[Graph], k: int, max_nodes: int) -> dict[str, np.ndarray]:
    """Stack single graphs into the arrays of :func:`build_graphs`."""
    graphs = list(graphs)
    out = {name: np.stack([getattr(g, name) for g in graphs]) if graphs else None for name in GRAPH_ARRAYS}
    if not graphs:
        shapes = {"features": (0, max_nodes, 4), "pixels": (0, max_nodes, 2), "neighbours": (0, max_nodes, k),
                  "mask": (0, max_nodes)}
        out = {name: np.zeros(shapes.get(name, (0,)), dtype=dt) for name, dt in GRAPH_ARRAYS.items()}
    return {name: np.asarray(arr, dtype=GRAPH_ARRAYS[name]) for name, arr in out.items()}


def build_graphs(images: np.ndarray, k: int = DEFAULT_K, max_nodes: int = DEFAULT_MAX_NODES,
                 first_jet: int = 0) -> dict[str, np.ndarray]:
    """Build the graphs of ``n`` images ``[n, 3, 125, 125]``.

    Returns a dict of stacked arrays: features f32 ``[n, N, 4]``, pixels i32 ``[n, N, 2]``,
    neighbours i64 ``[n, N, k]``, mask bool ``[n, N]``, n_nodes i32 ``[n]``, n_hits i32 ``[n]``,
    total_energy f64 ``[n]``, dropped_energy_fraction f64 ``[n]``. ``first_jet`` offsets the jet index
    named in error messages (e.g. ``JetBatch.first_row``).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (geometry.N_CHANNELS, _S, _S):
        raise InvalidInput(f"images must have shape [n, 3, {_S}, {_S}], got {images.shape}", field="images")
    return stack_graphs((build_graph(img, k, max_nodes, first_jet + i) for i, img in enumerate(images)),
                        k, max_nodes)
