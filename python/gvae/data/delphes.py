"""Delphes events -> gvae jet images: ``python -m gvae.data convert EVENTS.root JETS.parquet --from delphes``.

What maps to what (positions are offsets from the jet axis, painted with the project geometry of
:mod:`gvae.geometry`: pixel ``floor(d / 0.0174 + 62.5)``, HCAL tower = pixel // 5, each of a tower's
5 x 5 pixels holds tower energy / 25; images are made by the one painter :func:`gvae.jets.paint`):

=================  ==================================================  ========================
image channel      Delphes objects (``--calo eflow``, the default)     position / value
=================  ==================================================  ========================
0 track            ``EFlowTrack``                                      (EtaOuter, PhiOuter), PT
1 ECAL             ``EFlowPhoton`` + ``EFlowNeutralHadron``            (Eta, Phi), Eem
2 HCAL (towers)    ``EFlowPhoton`` + ``EFlowNeutralHadron``            (Eta, Phi), Ehad
=================  ==================================================  ========================

With ``--calo tower`` the ECAL and HCAL channels come from the ``Tower`` collection instead (Eem and
Ehad at the tower's (Eta, Phi)): the full calorimeter, including the deposits of charged particles,
as in the CMS end-to-end images. In energy-flow mode the calorimeter channels hold only the neutral
energy flow (Delphes subtracts what the tracks explain), so images differ from end-to-end ones there.

Jets. ``--jets eflow`` (default): FastJet anti-kt with ``--jet-radius`` on the energy-flow objects
(EFlowTrack with PT > 0 at (Eta, Phi), EFlowPhoton and EFlowNeutralHadron from (ET, Eta, Phi), all
massless). ``--jets file``: the file's own collection (``--jet-branch``, default ``Jet``; its PT, Eta,
Phi, Mass). Jets with ``pt >= pt_min`` and ``|eta| < eta_max`` are kept, the highest-pT
``max_jets_per_event`` of each event (default: all), in event order then descending pT.

Which objects a jet's image holds: every object with energy > 0 whose direction (Eta, Phi) lies within
``paint_radius`` (default: the jet radius) of the jet axis, ``dR^2 = deta^2 + dphi^2 < R^2``. An
object selected that way but painted outside the 125 x 125 window (a wide ``paint_radius``, or a
track bent far away by the field, since tracks are painted at (EtaOuter, PhiOuter)) is **counted,
per channel and per jet**, as out-of-window energy: painted + out-of-window = selected, exactly up
to float32 pixel rounding. The totals are logged and written with the per-jet numbers to
``<OUT>.delphes.json`` (summary) and ``<OUT>.delphes.csv`` (one line per jet, same row order as OUT).

Label. ``y = -1.0`` means unknown (:data:`UNKNOWN_LABEL`; 1 = top and 0 = QCD as elsewhere). With
``match_top=DR``, ``y = 1`` when a generator top quark (``Particle`` with ``|PID| = 6`` whose first
and last daughters ``D1``, ``D2`` are not top quarks, i.e. the last copy) lies within ``DR`` of the
jet axis, else ``y = 0``.

Notes on real files. In Delphes >= 3.4 ``EFlowTrack.PT`` is the energy-flow momentum (track and
calorimeter combined), which can be 0 (then ``Eta = 999.9``): such tracks carry no energy and are
skipped. In ``../shared/data/delphes_ttbar_10events.root`` 374 of 818 EFlow tracks have PT = 0,
EFlowPhoton has ``Ehad = 0`` and EFlowNeutralHadron ``Eem = 0`` (so ECAL = photons, HCAL = neutral
hadrons), and there is no ``Tower`` collection.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Iterator

import numpy as np
from tqdm import tqdm

from gvae import geometry
from gvae.errors import ConfigError, InvalidInput
from gvae.io import JetWriter
from gvae.io.delphes import TREE, DelphesFile, EventChunk
from gvae.jets import JetBatch, paint

log = logging.getLogger(__name__)

#: Stored in ``y`` when the truth label is unknown (no ``match_top``).
UNKNOWN_LABEL = -1.0
JET_SOURCES: tuple[str, ...] = ("eflow", "file")
CALO_SOURCES: tuple[str, ...] = ("eflow", "tower")
TRACK_FIELDS: tuple[str, ...] = ("PT", "Eta", "Phi", "EtaOuter", "PhiOuter")
NEUTRAL_FIELDS: tuple[str, ...] = ("ET", "Eta", "Phi", "Eem", "Ehad")
TOWER_FIELDS: tuple[str, ...] = ("Eta", "Phi", "Eem", "Ehad")
JET_FIELDS: tuple[str, ...] = ("PT", "Eta", "Phi", "Mass")
PARTICLE_FIELDS: tuple[str, ...] = ("PID", "D1", "D2", "Eta", "Phi")
NEUTRALS: tuple[str, ...] = ("EFlowPhoton", "EFlowNeutralHadron")
#: Jets painted per image block (bounds memory: one block is 256 x 187 kB).
PAINT_BLOCK = 256

_N = geometry.IMAGE_SIZE


@dataclass(frozen=True)
class DelphesOptions:
    """Settings of the Delphes conversion (defaults = the project's generator selection)."""

    jet_radius: float = 0.8
    """Anti-kt radius (``jets='eflow'``) and default painting radius."""
    pt_min: float = 400.0
    """Keep jets with pT >= this (GeV)."""
    eta_max: float = 1.4
    """Keep jets with |eta| < this (``math.inf``: no cut)."""
    max_jets_per_event: int | None = None
    """Keep at most this many of each event's highest-pT selected jets (None: all)."""
    jets: str = "eflow"
    """``eflow``: cluster with FastJet; ``file``: the file's jet collection ``jet_branch``."""
    jet_branch: str = "Jet"
    calo: str = "eflow"
    """``eflow``: ECAL/HCAL from EFlowPhoton + EFlowNeutralHadron; ``tower``: from ``Tower``."""
    paint_radius: float | None = None
    """Objects within this dR of the jet axis are painted (None: ``jet_radius``)."""
    match_top: float | None = None
    """Label jets by a generator top quark within this dR (None: label unknown, ``y = -1``)."""
    tree: str = TREE
    chunk_size: int = 1000
    """Events read per chunk."""
    max_events: int | None = None
    """Read at most this many events (None: all)."""

    def check(self) -> None:
        """Raise :class:`ConfigError` for values no conversion accepts."""
        if not (self.jet_radius > 0 and math.isfinite(self.jet_radius)):
            raise ConfigError(f"--jet-radius must be a positive number, got {self.jet_radius}")
        if not (self.pt_min >= 0 and math.isfinite(self.pt_min)):
            raise ConfigError(f"--pt-min must be >= 0, got {self.pt_min}")
        if not self.eta_max > 0:
            raise ConfigError(f"--eta-max must be > 0 (inf for no cut), got {self.eta_max}")
        if self.max_jets_per_event is not None and self.max_jets_per_event < 1:
            raise ConfigError(f"--max-jets-per-event must be >= 1, got {self.max_jets_per_event}")
        if self.jets not in JET_SOURCES:
            raise ConfigError(f"--jets must be one of {JET_SOURCES}, got {self.jets!r}")
        if self.calo not in CALO_SOURCES:
            raise ConfigError(f"--calo must be one of {CALO_SOURCES}, got {self.calo!r}")
        if self.paint_radius is not None and not (self.paint_radius > 0 and math.isfinite(self.paint_radius)):
            raise ConfigError(f"--paint-radius must be a positive number, got {self.paint_radius}")
        if self.match_top is not None and not (self.match_top > 0 and math.isfinite(self.match_top)):
            raise ConfigError(f"--match-top must be a positive dR, got {self.match_top}")
        if self.chunk_size < 1:
            raise ConfigError(f"--chunk-size must be >= 1, got {self.chunk_size}")
        if self.max_events is not None and self.max_events < 0:
            raise ConfigError(f"--max-events must be >= 0, got {self.max_events}")

    @property
    def radius(self) -> float:
        """The painting radius."""
        return self.jet_radius if self.paint_radius is None else self.paint_radius

    def branches(self) -> dict[str, tuple[str, ...]]:
        """``{collection: fields}`` this configuration reads."""
        out: dict[str, tuple[str, ...]] = {"EFlowTrack": TRACK_FIELDS}
        if self.calo == "eflow" or self.jets == "eflow":
            for name in NEUTRALS:
                out[name] = NEUTRAL_FIELDS if self.calo == "eflow" else ("ET", "Eta", "Phi")
        if self.calo == "tower":
            out["Tower"] = TOWER_FIELDS
        if self.jets == "file":
            out[self.jet_branch] = JET_FIELDS
        if self.match_top is not None:
            out["Particle"] = PARTICLE_FIELDS
        return out


@dataclass
class JetInfo:
    """Per-jet bookkeeping of a conversion (``n`` jets, same order as the written rows).

    event, rank: event entry and the jet's pT rank among the event's selected jets (0 = leading).
    painted, outside: float64 ``[n, 3]`` energy per channel [track pT, ECAL, HCAL] (GeV) painted into
    the window and selected but outside the window.
    """

    event: np.ndarray
    rank: np.ndarray
    painted: np.ndarray
    outside: np.ndarray

    @staticmethod
    def concatenate(parts: list["JetInfo"]) -> "JetInfo":
        if not parts:
            return JetInfo(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3)))
        return JetInfo(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("event", "rank", "painted", "outside")))


@dataclass
class DelphesReport:
    """What a conversion did: counts, per-jet painted / out-of-window energies, totals."""

    source: str
    options: DelphesOptions
    events: int = 0
    jets_clustered: int = 0
    """Jets found (clustered or in the file) with pT >= pt_min, before the |eta| and per-event cuts."""
    jets_failing_eta: int = 0
    jets_over_max_per_event: int = 0
    labels: dict[str, int] = field(default_factory=lambda: {"top": 0, "qcd": 0, "unknown": 0})
    jets: JetInfo = field(default_factory=lambda: JetInfo.concatenate([]))
    pt: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    eta: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    phi: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    m0: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def n_jets(self) -> int:
        return len(self.jets.event)

    def totals(self) -> dict[str, dict[str, float]]:
        """Per channel: painted, outside (GeV) and the outside fraction of the selected energy."""
        out = {}
        for c, name in enumerate(geometry.CHANNELS):
            painted = float(self.jets.painted[:, c].sum())
            outside = float(self.jets.outside[:, c].sum())
            total = painted + outside
            out[name] = {"painted_gev": painted, "outside_gev": outside,
                         "outside_fraction": outside / total if total > 0 else 0.0,
                         "jets_with_outside": int((self.jets.outside[:, c] > 0).sum())}
        return out

    def summary(self) -> dict:
        """JSON-friendly summary (written to ``<OUT>.delphes.json``)."""
        options = {k: ("inf" if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self.options).items()}
        return {"source": self.source, "options": options, "events": self.events,
                "jets_clustered_above_pt_min": self.jets_clustered, "jets_failing_eta_cut": self.jets_failing_eta,
                "jets_over_max_per_event": self.jets_over_max_per_event, "jets_written": self.n_jets,
                "labels": dict(self.labels), "label_convention": {"1": "top", "0": "QCD (not top-matched)",
                                                                  "-1": "unknown"},
                "channels": list(geometry.CHANNELS), "energy_per_channel": self.totals()}

    def write(self, json_path: str, csv_path: str) -> None:
        """Write the summary JSON and the per-jet CSV (row, event, rank, pt, eta, phi, m0, y,
        painted_{track,ecal,hcal}, outside_{track,ecal,hcal})."""
        with open(json_path, "w") as f:
            json.dump(self.summary(), f, indent=2, allow_nan=False)
            f.write("\n")
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["row", "event", "rank", "pt", "eta", "phi", "m0", "y",
                        *(f"painted_{c}" for c in geometry.CHANNELS), *(f"outside_{c}" for c in geometry.CHANNELS)])
            for i in range(self.n_jets):
                w.writerow([i, int(self.jets.event[i]), int(self.jets.rank[i]), repr(float(self.pt[i])),
                            repr(float(self.eta[i])), repr(float(self.phi[i])), repr(float(self.m0[i])),
                            repr(float(self.y[i])), *(repr(float(v)) for v in self.jets.painted[i]),
                            *(repr(float(v)) for v in self.jets.outside[i])])

    def log(self) -> None:
        t = self.totals()
        parts = ", ".join(f"{c} {t[c]['outside_gev']:.4g} GeV ({100 * t[c]['outside_fraction']:.3g}%, "
                          f"{t[c]['jets_with_outside']} jets)" for c in geometry.CHANNELS)
        any_out = any(t[c]["outside_gev"] > 0 for c in geometry.CHANNELS)
        (log.warning if any_out else log.info)(
            "%d events -> %d jets (%d above pT, %d failed |eta|, %d over the per-event maximum); energy selected "
            "but outside the window: %s", self.events, self.n_jets, self.jets_clustered, self.jets_failing_eta,
            self.jets_over_max_per_event, parts)


# ------------------------------------------------------------------------------------------------
# geometry helpers

def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi) (float64)."""
    return (np.asarray(phi, np.float64) + np.pi) % (2.0 * np.pi) - np.pi


def pixel_index(offset: np.ndarray) -> np.ndarray:
    """Pixel index of an eta or phi offset from the jet axis: ``floor(d / 0.0174 + 62.5)`` (int64)."""
    return np.floor(np.asarray(offset, np.float64) / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL + 0.5).astype(np.int64)


def _pairs(jet_event: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (jet, object of the jet's event) pair: (jet index, flat object index), both int64.

    jet_event: event (index within the chunk) of each jet; counts: objects per event.
    """
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    per_jet = counts[jet_event].astype(np.int64)
    total = int(per_jet.sum())
    jet = np.repeat(np.arange(len(jet_event), dtype=np.int64), per_jet)
    first_pair = np.cumsum(per_jet) - per_jet
    obj = np.arange(total, dtype=np.int64) - np.repeat(first_pair, per_jet) + np.repeat(offsets[jet_event], per_jet)
    return jet, obj


@dataclass
class Deposits:
    """Objects of one collection in a chunk that feed one image channel (flat, event after event).

    counts: int64 ``[n_events]``; sel_eta, sel_phi: direction used for the dR selection; eta, phi: the
    painted position; energy: GeV (float64, all ``[total]``); name: ``"Collection.Field"`` of the energy
    (for error messages); channel: 0, 1 or 2.
    """

    channel: int
    name: str
    counts: np.ndarray
    sel_eta: np.ndarray
    sel_phi: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray

    def validate(self, path: str, first_event: int) -> None:
        """:class:`InvalidInput` for non-finite or negative energies, or non-finite positions of objects with energy."""
        event_of = np.repeat(np.arange(len(self.counts)), self.counts)
        bad = ~(np.isfinite(self.energy) & (self.energy >= 0))
        what = self.name
        if not bad.any():
            live = self.energy > 0
            for label, values in (("Eta", self.sel_eta), ("Phi", self.sel_phi), ("eta", self.eta), ("phi", self.phi)):
                b = live & ~np.isfinite(values)
                if b.any():
                    bad, what = b, self.name.rsplit(".", 1)[0] + f".{label}"
                    break
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            e = int(event_of[i])
            k = i - int(np.concatenate([[0], np.cumsum(self.counts)])[e])
            raise InvalidInput(f"event {first_event + e}, object {k}: energy {self.energy[i]!r} at "
                               f"(eta, phi) = ({self.eta[i]!r}, {self.phi[i]!r}); energies must be finite and >= 0 "
                               f"and positions finite", file=path, row=first_event + e, field=what)


def collect_deposits(chunk: EventChunk, options: DelphesOptions) -> list[Deposits]:
    """The :class:`Deposits` of every channel for a chunk (tracks; ECAL and HCAL from EFlow or Tower)."""
    out = [Deposits(geometry.TRACK, "EFlowTrack.PT", chunk.counts("EFlowTrack", "PT"),
                    chunk.flat("EFlowTrack", "Eta"), chunk.flat("EFlowTrack", "Phi"),
                    chunk.flat("EFlowTrack", "EtaOuter"), chunk.flat("EFlowTrack", "PhiOuter"),
                    chunk.flat("EFlowTrack", "PT"))]
    calo = NEUTRALS if options.calo == "eflow" else ("Tower",)
    for name in calo:
        eta, phi, counts = chunk.flat(name, "Eta"), chunk.flat(name, "Phi"), chunk.counts(name, "Eta")
        for channel, part in ((geometry.ECAL, "Eem"), (geometry.HCAL, "Ehad")):
            out.append(Deposits(channel, f"{name}.{part}", counts, eta, phi, eta, phi, chunk.flat(name, part)))
    return out


@dataclass
class _Painted:
    """Deposits of a chunk's jets after selection: hits inside the window and outside sums."""

    jet: np.ndarray       # int64 [h] jet index in the chunk
    channel: np.ndarray   # int64 [h]
    ie: np.ndarray        # int64 [h]
    ip: np.ndarray        # int64 [h]
    energy: np.ndarray    # float64 [h]
    painted: np.ndarray   # float64 [n_jets, 3]
    outside: np.ndarray   # float64 [n_jets, 3]


#: Most (jet, object) candidate pairs held at once (bounds memory for files with many towers).
MAX_PAIRS = 2_000_000


def _selected_pairs(jet_event: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray, counts: np.ndarray,
                    sel_eta: np.ndarray, sel_phi: np.ndarray, r2: float) -> tuple[np.ndarray, np.ndarray]:
    """(jet, object) pairs with ``dR^2 < r2``, candidates built for groups of jets of at most
    :data:`MAX_PAIRS` pairs (a single jet may exceed it)."""
    per_jet = counts[jet_event].astype(np.int64)
    group = np.cumsum(per_jet) // MAX_PAIRS
    bounds = np.flatnonzero(np.diff(group)) + 1
    jets_out, objs_out = [], []
    for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(jet_event)]])):
        jet, obj = _pairs(jet_event[a:b], counts)
        jet += a
        dr2 = (sel_eta[obj] - jet_eta[jet]) ** 2 + wrap_phi(sel_phi[obj] - jet_phi[jet]) ** 2
        keep = dr2 < r2
        jets_out.append(jet[keep])
        objs_out.append(obj[keep])
    if not jets_out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(jets_out), np.concatenate(objs_out)


def select_and_place(jet_event: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray,
                     deposits: list[Deposits], radius: float) -> _Painted:
    """Objects within ``radius`` of each jet axis, with their pixel; sums per jet and channel of the
    energy inside and outside the window (float64 ``[n_jets, 3]``)."""
    n = len(jet_event)
    painted = np.zeros((n, geometry.N_CHANNELS))
    outside = np.zeros((n, geometry.N_CHANNELS))
    parts: list[tuple[np.ndarray, ...]] = []
    r2 = radius * radius
    for d in deposits:
        live = d.energy > 0
        counts = np.bincount(np.repeat(np.arange(len(d.counts)), d.counts)[live], minlength=len(d.counts))
        sel_eta, sel_phi, eta, phi, energy = (a[live] for a in (d.sel_eta, d.sel_phi, d.eta, d.phi, d.energy))
        jet, obj = _selected_pairs(jet_event, jet_eta, jet_phi, counts, sel_eta, sel_phi, r2)
        ie = pixel_index(eta[obj] - jet_eta[jet])
        ip = pixel_index(wrap_phi(phi[obj] - jet_phi[jet]))
        e = energy[obj]
        inside = (ie >= 0) & (ie < _N) & (ip >= 0) & (ip < _N)
        painted[:, d.channel] += np.bincount(jet[inside], weights=e[inside], minlength=n)
        outside[:, d.channel] += np.bincount(jet[~inside], weights=e[~inside], minlength=n)
        parts.append((jet[inside], np.full(int(inside.sum()), d.channel, np.int64), ie[inside], ip[inside], e[inside]))
    if parts:
        cat = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    else:
        cat = [np.zeros(0, np.int64)] * 4 + [np.zeros(0)]
    return _Painted(*cat, painted=painted, outside=outside)


# ------------------------------------------------------------------------------------------------
# jets

@dataclass
class _Jets:
    """Selected jets of a chunk (flat, event then descending pT)."""

    event: np.ndarray  # int64, index within the chunk
    rank: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    m: np.ndarray


def cluster_eflow(chunk: EventChunk, radius: float, pt_min: float) -> tuple[np.ndarray, ...]:
    """FastJet anti-kt jets with pT >= ``pt_min`` on the EFlow objects of each event (massless inputs).

    Returns flat ``(event, pt, eta, phi, m)`` (float64; event int64 index within the chunk).
    """
    import awkward as ak
    import fastjet
    import fastjet._swig as fj_swig

    fj_swig.ClusterSequence.set_fastjet_banner_stream(None)
    # flat numpy per collection, then grouped by event (tracks, photons, neutral hadrons within an event)
    events_of, pts, etas, phis = [], [], [], []
    for name, ptf in (("EFlowTrack", "PT"), *((n, "ET") for n in NEUTRALS)):
        counts = chunk.counts(name, ptf)
        pt, eta, phi = chunk.flat(name, ptf), chunk.flat(name, "Eta"), chunk.flat(name, "Phi")
        ok = (pt > 0) & (np.abs(eta) < 100)  # EFlowTrack PT = 0 (Eta = 999.9) carries nothing
        events_of.append(np.repeat(np.arange(chunk.n_events, dtype=np.int64), counts)[ok])
        pts.append(pt[ok])
        etas.append(eta[ok])
        phis.append(phi[ok])
    event_of = np.concatenate(events_of)
    order = np.argsort(event_of, kind="stable")
    pt, eta, phi = (np.concatenate(v)[order] for v in (pts, etas, phis))
    counts = np.bincount(event_of, minlength=chunk.n_events)
    if counts.sum() == 0:
        z = np.zeros(0)
        return np.zeros(0, np.int64), z, z, z, z
    flat = ak.zip({"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(eta), "E": pt * np.cosh(eta)})
    events = ak.unflatten(flat, counts)
    jetdef = fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    jets = fastjet.ClusterSequence(events, jetdef).inclusive_jets(min_pt=pt_min)
    event = np.repeat(np.arange(chunk.n_events, dtype=np.int64), np.asarray(ak.num(jets, axis=1), np.int64))
    px, py, pz, e = (np.asarray(ak.flatten(jets[f], axis=None), np.float64) for f in ("px", "py", "pz", "E"))
    jpt = np.hypot(px, py)
    jeta = np.arcsinh(np.divide(pz, jpt, out=np.zeros_like(pz), where=jpt > 0))
    jphi = wrap_phi(np.arctan2(py, px))
    m = np.sqrt(np.clip(e * e - px * px - py * py - pz * pz, 0.0, None))
    keep = jpt >= pt_min  # fastjet's cut, re-applied on the recomputed pT
    return event[keep], jpt[keep], jeta[keep], jphi[keep], m[keep]


def select_jets(chunk: EventChunk, options: DelphesOptions, report: DelphesReport) -> _Jets:
    """The chunk's jets after the pT, |eta| and per-event cuts (counts added to ``report``)."""
    if options.jets == "eflow":
        event, pt, eta, phi, m = cluster_eflow(chunk, options.jet_radius, options.pt_min)
    else:
        b = options.jet_branch
        event = np.repeat(np.arange(chunk.n_events, dtype=np.int64), chunk.counts(b, "PT"))
        pt, eta, phi, m = (chunk.flat(b, f) for f in JET_FIELDS)
        for f, v in (("PT", pt), ("Eta", eta), ("Phi", phi), ("Mass", m)):
            bad = ~np.isfinite(v)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InvalidInput(f"jet value {v[i]!r} is not finite", file=report.source,
                                   row=chunk.first_event + int(event[i]), field=f"{b}.{f}")
        above = pt >= options.pt_min
        event, pt, eta, phi, m = event[above], pt[above], eta[above], phi[above], m[above]
    report.jets_clustered += len(pt)
    central = np.abs(eta) < options.eta_max
    report.jets_failing_eta += int((~central).sum())
    event, pt, eta, phi, m = event[central], pt[central], eta[central], phi[central], m[central]
    order = np.lexsort((-pt, event))
    event, pt, eta, phi, m = event[order], pt[order], eta[order], phi[order], m[order]
    first = np.searchsorted(event, event, side="left")
    rank = np.arange(len(event), dtype=np.int64) - first
    if options.max_jets_per_event is not None:
        keep = rank < options.max_jets_per_event
        report.jets_over_max_per_event += int((~keep).sum())
        event, rank, pt, eta, phi, m = event[keep], rank[keep], pt[keep], eta[keep], phi[keep], m[keep]
    return _Jets(event, rank, pt, eta, phi, m)


def top_labels(chunk: EventChunk, jets: _Jets, dr: float) -> np.ndarray:
    """1.0 for jets with a last-copy generator top quark within ``dr`` of the axis, else 0.0 (float32)."""
    pid = np.abs(chunk.flat("Particle", "PID"))
    counts = chunk.counts("Particle", "PID")
    offsets = np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts).astype(np.int64)
    n_of = np.repeat(counts, counts)

    def is_top(daughter: np.ndarray) -> np.ndarray:
        d = chunk.flat("Particle", daughter).astype(np.int64)
        ok = (d >= 0) & (d < n_of)
        out = np.zeros(len(d), bool)
        out[ok] = pid[offsets[ok] + d[ok]] == 6
        return out

    last = (pid == 6) & ~is_top("D1") & ~is_top("D2")
    event_of = np.repeat(np.arange(chunk.n_events), counts)[last]
    t_eta, t_phi = chunk.flat("Particle", "Eta")[last], chunk.flat("Particle", "Phi")[last]
    jet, top = _pairs(jets.event, np.bincount(event_of, minlength=chunk.n_events))
    close = (t_eta[top] - jets.eta[jet]) ** 2 + wrap_phi(t_phi[top] - jets.phi[jet]) ** 2 < dr * dr
    y = np.zeros(len(jets.event), np.float32)
    y[jet[close]] = 1.0
    return y


# ------------------------------------------------------------------------------------------------
# the conversion

def iter_delphes_jets(path: str | os.PathLike, options: DelphesOptions | None = None,
                      report: DelphesReport | None = None, progress: bool = False) -> Iterator[tuple[JetBatch, JetInfo]]:
    """Jets of a Delphes file as :class:`JetBatch` blocks of at most :data:`PAINT_BLOCK` jets, each with
    its :class:`JetInfo`; ``report`` (if given) accumulates the counts. Rows (``first_row``) count from 0."""
    options = options or DelphesOptions()
    options.check()
    path = os.fspath(path)
    report = report if report is not None else DelphesReport(path, options)
    row = 0
    with DelphesFile(path, options.tree) as f:
        branches = options.branches()
        f.require(branches)
        n_events = f.n_events if options.max_events is None else min(options.max_events, f.n_events)
        bar = tqdm(total=n_events, unit="event", desc="delphes", disable=not progress)
        try:
            for chunk in f.iter_chunks(branches, options.chunk_size, 0, n_events):
                deposits = collect_deposits(chunk, options)
                for d in deposits:
                    d.validate(path, chunk.first_event)
                jets = select_jets(chunk, options, report)
                if options.match_top is not None:
                    y = top_labels(chunk, jets, options.match_top)
                else:
                    y = np.full(len(jets.event), UNKNOWN_LABEL, np.float32)
                placed = select_and_place(jets.event, jets.eta, jets.phi, deposits, options.radius)
                order = np.argsort(placed.jet, kind="stable")
                hit_jet = placed.jet[order]
                for a in range(0, len(jets.event), PAINT_BLOCK):
                    b = min(a + PAINT_BLOCK, len(jets.event))
                    lo, hi = np.searchsorted(hit_jet, [a, b])
                    sel = order[lo:hi]
                    images = paint(b - a, placed.jet[sel] - a, placed.channel[sel], placed.ie[sel], placed.ip[sel],
                                   placed.energy[sel])
                    eta, phi = jets.eta[a:b], jets.phi[a:b]
                    batch = JetBatch(images, pt=jets.pt[a:b], m0=jets.m[a:b], y=y[a:b], eta=eta, phi=phi,
                                     ieta=np.rint(eta / geometry.PIXEL_SIZE), iphi=np.rint(phi / geometry.PIXEL_SIZE),
                                     source=path, first_row=row)
                    info = JetInfo(chunk.first_event + jets.event[a:b], jets.rank[a:b], placed.painted[a:b],
                                   placed.outside[a:b])
                    row += b - a
                    yield batch, info
                report.events += chunk.n_events
                bar.update(chunk.n_events)
        finally:
            bar.close()


def read_delphes(path: str | os.PathLike, options: DelphesOptions | None = None) -> tuple[JetBatch, DelphesReport]:
    """All selected jets of a Delphes file in memory, with the report."""
    options = options or DelphesOptions()
    report = DelphesReport(os.fspath(path), options)
    batches, infos = [], []
    for batch, info in iter_delphes_jets(path, options, report):
        batches.append(batch)
        infos.append(info)
    _finish(report, [{n: getattr(b, n) for n in _REPORT_SCALARS} for b in batches], infos)
    if batches:
        return JetBatch.concatenate(batches), report
    from gvae.io._common import empty_batch
    return empty_batch(os.fspath(path)), report


_REPORT_SCALARS: tuple[str, ...] = ("pt", "eta", "phi", "m0", "y")


def _finish(report: DelphesReport, scalars: list[dict[str, np.ndarray]], infos: list[JetInfo]) -> None:
    """Fill the report's per-jet arrays from the blocks' scalars and infos."""
    report.jets = JetInfo.concatenate(infos)
    for name in _REPORT_SCALARS:
        setattr(report, name, np.concatenate([b[name] for b in scalars]) if scalars else np.zeros(0, np.float32))
    report.labels = {"top": int((report.y == 1).sum()), "qcd": int((report.y == 0).sum()),
                     "unknown": int((report.y == UNKNOWN_LABEL).sum())}


def report_paths(out_path: str | os.PathLike) -> tuple[str, str]:
    """``(<OUT>.delphes.json, <OUT>.delphes.csv)``."""
    out = os.fspath(out_path)
    return out + ".delphes.json", out + ".delphes.csv"


def convert_delphes(in_path: str | os.PathLike, out_path: str | os.PathLike, options: DelphesOptions | None = None,
                    write_report: bool = True, progress: bool = True) -> DelphesReport:
    """Convert a Delphes file into a jet file ``out_path`` (any :mod:`gvae.io` format, from the extension),
    writing ``<OUT>.delphes.json`` and ``<OUT>.delphes.csv`` when ``write_report``; returns the report."""
    options = options or DelphesOptions()
    options.check()
    in_path, out_path = os.fspath(in_path), os.fspath(out_path)
    if os.path.abspath(in_path) == os.path.abspath(out_path):
        raise ConfigError("the Delphes input and the jet output are the same file")
    report = DelphesReport(in_path, options)
    scalars: list[dict[str, np.ndarray]] = []  # images are not kept after writing
    infos: list[JetInfo] = []
    with JetWriter(out_path) as writer:
        for batch, info in iter_delphes_jets(in_path, options, report, progress=progress):
            writer.write(batch)
            infos.append(info)
            scalars.append({n: getattr(batch, n) for n in _REPORT_SCALARS})
    _finish(report, scalars, infos)
    report.log()
    if report.n_jets == 0:
        log.warning("no jet of %s passed the selection (pT >= %g GeV, |eta| < %g): %s holds 0 jets",
                    in_path, options.pt_min, options.eta_max, out_path)
    if write_report:
        json_path, csv_path = report_paths(out_path)
        report.write(json_path, csv_path)
        log.info("wrote %s (%d jets), %s and %s", out_path, report.n_jets, json_path, csv_path)
    return report
