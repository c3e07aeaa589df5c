"""Synthetic Delphes-shaped event trees (written with uproot), for tests and benchmarks.

Not physics: each event holds 0-3 sprays of EFlow tracks, photons, neutral hadrons and towers around
random axes, one file jet per spray and one generator top quark (an earlier copy, then the last copy
decaying to W b). What matters is the layout: flat ``Collection.Field`` jagged branches and
``Collection_size`` counters in the TTree ``Delphes``, written in several baskets, with EFlow tracks of
PT = 0 (Eta = 999.9) as in real Delphes >= 3.4 files. Deterministic in ``seed``.
"""
from __future__ import annotations

import os

import awkward as ak
import numpy as np
import uproot


def wrap(x):
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(x, np.float64) + np.pi) % (2 * np.pi) - np.pi


def synthetic_events(n_events: int, seed: int = 0, empty_every: int = 0) -> dict[str, dict[str, list]]:
    """Events with 0-3 sprays of objects around random axes; every ``empty_every``-th event is empty.

    Returns {collection: {field: list of per-event float arrays}} with the EFlow, Tower, Jet and Particle
    fields the converter reads (values are not physics, the shapes are Delphes')."""
    rng = np.random.default_rng(seed)
    colls = {"EFlowTrack": ("PT", "Eta", "Phi", "EtaOuter", "PhiOuter"), "EFlowPhoton": ("ET", "Eta", "Phi", "Eem", "Ehad"),
             "EFlowNeutralHadron": ("ET", "Eta", "Phi", "Eem", "Ehad"), "Tower": ("ET", "Eta", "Phi", "Eem", "Ehad"),
             "Jet": ("PT", "Eta", "Phi", "Mass"), "Particle": ("PID", "D1", "D2", "Eta", "Phi")}
    ev = {c: {f: [] for f in fs} for c, fs in colls.items()}
    for e in range(n_events):
        n_sprays = 0 if empty_every and e % empty_every == 0 else int(rng.integers(0, 4))
        axes = [(rng.uniform(-2, 2), rng.uniform(-np.pi, np.pi)) for _ in range(n_sprays)]
        per = {c: {f: [] for f in fs} for c, fs in colls.items()}
        for a_eta, a_phi in axes:
            for c in ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron", "Tower"):
                k = int(rng.integers(3, 30))
                eta = a_eta + rng.normal(0, 0.3, k)
                phi = wrap(a_phi + rng.normal(0, 0.3, k))
                pt = rng.exponential(15.0, k)
                if c == "EFlowTrack":
                    pt[rng.random(k) < 0.2] = 0.0  # energy-flow tracks with PT = 0, as in real files
                    per[c]["PT"].append(pt)
                    per[c]["Eta"].append(np.where(pt > 0, eta, 999.9))
                    per[c]["Phi"].append(np.where(pt > 0, phi, 0.0))
                    per[c]["EtaOuter"].append(eta + rng.normal(0, 0.05, k))
                    per[c]["PhiOuter"].append(wrap(phi + rng.normal(0, 0.2, k)))
                else:
                    e_tot = pt * np.cosh(eta)
                    f_em = {"EFlowPhoton": 1.0, "EFlowNeutralHadron": 0.0}.get(c, None)
                    f_em = rng.uniform(0, 1, k) if f_em is None else np.full(k, f_em)
                    if c == "EFlowNeutralHadron":
                        f_em = np.where(rng.random(k) < 0.3, rng.uniform(0, 0.5, k), 0.0)
                    for f, v in (("ET", pt), ("Eta", eta), ("Phi", phi), ("Eem", f_em * e_tot), ("Ehad", (1 - f_em) * e_tot)):
                        per[c][f].append(v)
            per["Jet"]["PT"].append([rng.uniform(20, 300)])
            per["Jet"]["Eta"].append([a_eta])
            per["Jet"]["Phi"].append([a_phi])
            per["Jet"]["Mass"].append([rng.uniform(5, 200)])
        for c, fs in colls.items():
            for f in fs:
                ev[c][f].append(np.concatenate(per[c][f]).astype(np.float64) if per[c][f] else np.zeros(0))
        # one top quark per event: a non-last copy (D1 = D2 -> another top) then the last copy -> W b
        for f, v in (("PID", [6, 6, 24, 5]), ("D1", [1, 2, -1, -1]), ("D2", [1, 3, -1, -1]),
                     ("Eta", [0.0, 0.0, 0.0, 0.0]), ("Phi", [0.0, 0.0, 0.0, 0.0])):
            ev["Particle"][f][-1] = np.array(v, np.float64)
    return ev


def write_delphes(path: str | os.PathLike, ev: dict, *, drop: tuple[str, ...] = (), tree: str = "Delphes",
                  baskets: int = 3) -> str:
    """Write ``ev`` as flat ``Collection.Field`` jagged branches of ``tree`` (float32, PID/D1/D2 int32),
    in ``baskets`` extend calls; ``drop`` leaves out branches ("EFlowTrack.EtaOuter") or collections."""
    n = len(next(iter(next(iter(ev.values())).values())))
    with uproot.recreate(path) as f:
        data = {}
        for c, fields in ev.items():
            if c in drop:
                continue
            kept = {k: v for k, v in fields.items() if f"{c}.{k}" not in drop}
            arrays = {k: ak.values_astype(ak.Array([np.asarray(x) for x in v]),
                                          np.int32 if k in ("PID", "D1", "D2") else np.float32)
                      for k, v in kept.items()}
            data[c] = ak.zip(arrays)
        t = f.mktree(tree, {c: a.type.content for c, a in data.items()},
                     field_name=lambda o, i: f"{o}.{i}", counter_name=lambda c: f"{c}_size")
        edges = np.linspace(0, n, baskets + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:]):
            if b > a:
                t.extend({c: arr[a:b] for c, arr in data.items()})
    return os.fspath(path)
