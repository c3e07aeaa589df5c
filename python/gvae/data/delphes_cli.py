"""The ``--from delphes`` flags of ``python -m gvae.data convert`` (kept apart from the graph flags).

``python -m gvae.data convert EVENTS.root JETS.parquet --from delphes [--jet-radius 0.8 --pt-min 400
--eta-max 1.4 --max-jets-per-event N --jets eflow|file --calo eflow|tower --match-top DR ...]``
writes JETS (+ ``JETS.delphes.json``, ``JETS.delphes.csv``); see :mod:`gvae.data.delphes`.
"""
from __future__ import annotations

import argparse
import os

from gvae.errors import ConfigError

#: dest -> option string of the Delphes-only flags (default None = not given).
DELPHES_FLAGS: dict[str, str] = {
    "jet_radius": "--jet-radius", "pt_min": "--pt-min", "eta_max": "--eta-max",
    "max_jets_per_event": "--max-jets-per-event", "jets": "--jets", "jet_branch": "--jet-branch",
    "calo": "--calo", "paint_radius": "--paint-radius", "match_top": "--match-top", "tree": "--tree",
    "chunk_size": "--chunk-size", "max_events": "--max-events", "no_report": "--no-report"}
#: Graph-conversion flags that mean nothing with --from delphes.
GRAPH_FLAGS: dict[str, str] = {"k": "--k", "max_nodes": "--max-nodes", "split": "--split", "seed": "--seed",
                               "shard_size": "--shard-size", "workers": "--workers", "builder": "--builder",
                               "block_size": "--block-size"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--from`` and the Delphes flags to the ``convert`` parser (after its graph flags)."""
    from gvae.data.delphes import CALO_SOURCES, JET_SOURCES, DelphesOptions

    d = DelphesOptions()
    p.set_defaults(_graph_defaults={dest: p.get_default(dest) for dest in GRAPH_FLAGS})
    g = p.add_argument_group(
        "Delphes input (--from delphes)",
        "Read a Delphes ROOT file (tree 'Delphes') in chunks, cluster or take jets, paint each into the 3-channel "
        "125x125 window (track: EFlowTrack PT at EtaOuter/PhiOuter; ECAL: Eem, HCAL towers: Ehad of EFlowPhoton + "
        "EFlowNeutralHadron, or of Tower with --calo tower) and write OUT_DIR as a jet file (.parquet, .h5, .root, "
        ".gvh) plus OUT.delphes.json / OUT.delphes.csv (per-jet energy painted and outside the window). Labels: "
        "y = -1 (unknown) unless --match-top. The graph flags above do not apply.")
    g.add_argument("--from", dest="source", choices=("jets", "delphes"), default="jets",
                   help="what IN is: a gvae jet file -> graph shards (default), or Delphes events -> a jet file")
    g.add_argument("--jet-radius", type=float, default=None, metavar="R",
                   help=f"anti-kt radius; also the default painting radius; with --jets file set it to the "
                        f"collection's R (Jet: 0.4, FatJet: 0.8 in the CMS card) (default: {d.jet_radius})")
    g.add_argument("--pt-min", type=float, default=None, metavar="GEV",
                   help=f"keep jets with pT >= GEV (default: {d.pt_min:g}, the project's generator cut)")
    g.add_argument("--eta-max", type=float, default=None, metavar="ETA",
                   help=f"keep jets with |eta| < ETA; 'inf' for no cut (default: {d.eta_max})")
    g.add_argument("--max-jets-per-event", type=int, default=None, metavar="N",
                   help="keep the N highest-pT selected jets of each event (default: all)")
    g.add_argument("--jets", choices=JET_SOURCES, default=None,
                   help="eflow: FastJet anti-kt on EFlowTrack/EFlowPhoton/EFlowNeutralHadron; file: the file's jet "
                        f"collection (--jet-branch) (default: {d.jets})")
    g.add_argument("--jet-branch", default=None, metavar="NAME",
                   help=f"jet collection for --jets file, e.g. Jet or FatJet (default: {d.jet_branch})")
    g.add_argument("--calo", choices=CALO_SOURCES, default=None,
                   help="where ECAL (Eem) and HCAL (Ehad) come from: eflow = EFlowPhoton + EFlowNeutralHadron, "
                        f"tower = the Tower collection (default: {d.calo})")
    g.add_argument("--paint-radius", type=float, default=None, metavar="DR",
                   help="objects within DR of the jet axis are painted; energy beyond the window is reported "
                        "(default: the jet radius)")
    g.add_argument("--match-top", type=float, default=None, metavar="DR",
                   help="label y = 1 for jets with a generator top quark (Particle) within DR, else 0 "
                        "(default: no matching, y = -1 = unknown)")
    g.add_argument("--tree", default=None, help=f"event tree name (default: {d.tree})")
    g.add_argument("--chunk-size", type=int, default=None, metavar="EVENTS",
                   help=f"events read per chunk (default: {d.chunk_size})")
    g.add_argument("--max-events", type=int, default=None, metavar="N", help="read at most N events (default: all)")
    g.add_argument("--no-report", action="store_const", const=True, default=None,
                   help="do not write OUT.delphes.json and OUT.delphes.csv (totals are still logged)")


def run_if_delphes(args: argparse.Namespace) -> bool:
    """Run the Delphes conversion when ``--from delphes``; returns whether it ran. Raises
    :class:`ConfigError` for Delphes flags without ``--from delphes`` and graph flags with it."""
    given = [flag for dest, flag in DELPHES_FLAGS.items() if getattr(args, dest, None) is not None]
    if args.source != "delphes":
        if given:
            raise ConfigError(f"{given[0]} needs --from delphes")
        return False
    defaults = getattr(args, "_graph_defaults", {})
    for dest, flag in GRAPH_FLAGS.items():
        if dest in defaults and getattr(args, dest) != defaults[dest]:
            raise ConfigError(f"{flag} applies to graph conversion, not to --from delphes")
    from gvae.data.delphes import DelphesOptions, convert_delphes

    values = {dest: getattr(args, dest) for dest in DELPHES_FLAGS if dest != "no_report"
              and getattr(args, dest) is not None}
    options = DelphesOptions(**values)
    if os.path.exists(args.out_dir) and not args.overwrite:
        raise ConfigError(f"{args.out_dir} exists; pass --overwrite to replace it")
    convert_delphes(args.input, args.out_dir, options, write_report=not args.no_report,
                    progress=not args.no_progress)
    return True
