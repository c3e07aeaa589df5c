"""Compare the output of ``gvaeRun`` with the Python bindings (``gvae._core.Producer``) on the same jets.

Reads the jets of the input ``.gvh`` exactly as the C++ ``GvhSource`` does (raw hits, no image
round trip), reconstructs them with the bindings (same model, batches = the framework's events, mode and seed), and
compares jet by jet with the ``.gvr`` details file ``gvaeRun`` wrote:

* same jets in the same order (event ids), same node counts, channels and graph diagnostics;
* reconstructed ``x, y`` within ``--atol-xy`` and energies within ``--rtol-energy`` (+ ``--atol-energy``);
* pixel indices ``(ieta, iphi)`` equal to the bindings' and to ``gvae.geometry.nearest_pixel(x, y)``.

With ``--reco`` it also reads the reconstructed ``.gvh`` with ``gvae.io.read_jets`` and checks that
it holds the same jets (pt of the input) with the energy of the details file, each hit at the
nearest pixel of its reconstructed ``(x, y)`` (HCAL: that pixel's tower centre).

Exit status 0 when everything agrees, 1 otherwise; ``--out`` writes the numbers as JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from gvae.geometry import HCAL, HCAL_TOWER_PIXELS, nearest_pixel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comparison import Comparison  # noqa: E402
from recofile import read_gvh_hits, read_reco_details  # noqa: E402

log = logging.getLogger("compare_with_bindings")

DEFAULT_ATOL_XY = 1e-5       # eta/phi units; one pixel is 0.0174
DEFAULT_RTOL_ENERGY = 1e-4
DEFAULT_ATOL_ENERGY = 1e-6   # GeV


@dataclass
class RecoComparison(Comparison):
    """Result of :func:`compare` (:class:`comparison.Comparison` with the worst position and relative
    energy differences)."""

    max_abs_dx: float = 0.0
    max_abs_dy: float = 0.0
    max_rel_denergy: float = 0.0


#: Per-hit arrays of ``Producer.produce``'s answer; every other array has one row per jet.
_HIT_KEYS = ("channel", "x", "y", "ieta", "iphi", "energy")


def bindings_reconstruct(input_gvh: str | Path, model_path: str | Path, *, batch_size: int = 64,
                         mode: str = "deterministic", seed: int = 0, device: str = "cpu") -> dict[str, np.ndarray]:
    """Reconstruct every jet of ``input_gvh`` with ``gvae._core.Producer``; the dict of flat arrays it
    returns (``channel, x, y, ieta, iphi, energy`` per hit, ``counts, jet_id, n_nodes, ...`` per jet).
    Jet ids are the file's event ids, as in the C++ source (this fixes the per-jet sampling seeds).

    The bindings are called once per event with that event's jets, as ``GvaeReconstructionProducer``
    calls ``Producer::produce``, so both see the same batches: a batch is padded to its largest jet,
    and a different padding changes the last bits of the decoded positions, which can move a decoded
    hit across a cell boundary when the hits are snapped to the detector (contract v2 models)."""
    from gvae import _core

    raw = read_gvh_hits(input_gvh)
    model = _core.Model.load(str(model_path), device)
    producer = _core.Producer(model, batch_size=batch_size, mode=mode, seed=seed)
    parts: list[dict[str, np.ndarray]] = []
    start = 0
    while start < len(raw):
        stop = start + 1
        while stop < len(raw) and raw[stop].event_id == raw[start].event_id:
            stop += 1
        hits = [j.hits for j in raw[start:stop]]
        flat = {name: np.concatenate([h[name] for h in hits]).astype(dtype)
                for name, dtype in (("channel", np.int32), ("ieta", np.int32), ("iphi", np.int32),
                                    ("energy", np.float32))}
        counts = np.array([len(h) for h in hits], dtype=np.int64)
        ids = np.array([j.event_id for j in raw[start:stop]], dtype=np.uint64)
        parts.append(producer.produce(flat["channel"], flat["ieta"], flat["iphi"], flat["energy"], counts, ids,
                                      None))
        start = stop
    if not parts:
        return {"counts": np.zeros(0, np.int64), **{k: np.zeros(0) for k in _HIT_KEYS}}
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def compare(input_gvh: str | Path, model_path: str | Path, details_gvr: str | Path, *,
            reco_gvh: str | Path | None = None, batch_size: int = 64, mode: str = "deterministic", seed: int = 0,
            device: str = "cpu", atol_xy: float = DEFAULT_ATOL_XY, rtol_energy: float = DEFAULT_RTOL_ENERGY,
            atol_energy: float = DEFAULT_ATOL_ENERGY) -> RecoComparison:
    """Compare ``gvaeRun``'s ``.gvr`` (and optionally ``.gvh``) output with the bindings on ``input_gvh``."""
    result = RecoComparison(tolerance={"atol_xy": atol_xy, "rtol_energy": rtol_energy, "atol_energy": atol_energy})
    ref = bindings_reconstruct(input_gvh, model_path, batch_size=batch_size, mode=mode, seed=seed, device=device)
    got = read_reco_details(details_gvr)
    n_ref = len(ref["counts"])
    result.jets = len(got)
    if len(got) != n_ref:
        result.problems.append(f"{details_gvr}: {len(got)} jets, the bindings reconstructed {n_ref}")
        return result
    bounds = np.concatenate([[0], np.cumsum(ref["counts"])])
    for j, jet in enumerate(got):
        sl = slice(bounds[j], bounds[j + 1])
        where = f"row {j} (event_id {jet.event_id})"
        if jet.event_id != int(ref["jet_id"][j]):
            result.problems.append(f"{where}: event_id differs from the input's {int(ref['jet_id'][j])}")
        if (jet.n_nodes, jet.n_hits) != (int(ref["n_nodes"][j]), int(ref["n_hits"][j])):
            result.problems.append(f"{where}: n_nodes/n_hits {jet.n_nodes}/{jet.n_hits} vs bindings "
                                   f"{int(ref['n_nodes'][j])}/{int(ref['n_hits'][j])}")
        if not np.isclose(jet.total_energy, ref["total_energy"][j], rtol=1e-12, atol=0) or not np.isclose(
                jet.dropped_energy_fraction, ref["dropped_energy_fraction"][j], rtol=1e-12, atol=1e-15):
            result.problems.append(f"{where}: graph diagnostics differ")
        if len(jet.hits) != bounds[j + 1] - bounds[j]:
            result.problems.append(f"{where}: {len(jet.hits)} hits vs bindings {bounds[j + 1] - bounds[j]}")
            continue
        result.hits += len(jet.hits)
        if not np.array_equal(jet.hits["channel"].astype(np.int32), ref["channel"][sl]):
            result.problems.append(f"{where}: channels differ")
        if len(jet.hits) == 0:
            continue
        ieta, iphi = jet.hits["ieta"].astype(np.int64), jet.hits["iphi"].astype(np.int64)
        if not (np.array_equal(ieta, ref["ieta"][sl]) and np.array_equal(iphi, ref["iphi"][sl])):
            result.problems.append(f"{where}: pixel indices (ieta, iphi) differ from the bindings'")
        if not (np.array_equal(ieta, nearest_pixel(jet.hits["x"]))
                and np.array_equal(iphi, nearest_pixel(jet.hits["y"]))):
            result.problems.append(f"{where}: pixel indices (ieta, iphi) are not the nearest pixels of (x, y)")
        dx = np.abs(jet.hits["x"] - ref["x"][sl]).max()
        dy = np.abs(jet.hits["y"] - ref["y"][sl]).max()
        de = np.abs(jet.hits["energy"].astype(np.float64) - ref["energy"][sl])
        rel = (de / np.maximum(np.abs(ref["energy"][sl]), 1e-30)).max()
        result.max_abs_dx = max(result.max_abs_dx, float(dx))
        result.max_abs_dy = max(result.max_abs_dy, float(dy))
        result.max_abs_denergy = max(result.max_abs_denergy, float(de.max()))
        result.max_rel_denergy = max(result.max_rel_denergy, float(rel))
        if dx > atol_xy or dy > atol_xy:
            result.problems.append(f"{where}: x/y differ by {max(dx, dy):.3g} > {atol_xy}")
        if not np.all(de <= atol_energy + rtol_energy * np.abs(ref["energy"][sl])):
            result.problems.append(f"{where}: energy differs by {de.max():.3g} GeV (relative {rel:.3g})")
    if reco_gvh is not None:
        _check_reco_gvh(Path(reco_gvh), Path(input_gvh), got, result)
    return result


def _check_reco_gvh(reco_gvh: Path, input_gvh: Path, details: list, result: RecoComparison) -> None:
    """The reconstructed .gvh is readable by gvae.io and holds the same jets and energies."""
    import gvae.io

    reco = gvae.io.read_jets(str(reco_gvh))
    original = gvae.io.read_jets(str(input_gvh))
    if len(reco) != len(details) or len(reco) != len(original):
        result.problems.append(f"{reco_gvh}: {len(reco)} jets, details {len(details)}, input {len(original)}")
        return
    if not np.array_equal(reco.pt, original.pt):
        result.problems.append(f"{reco_gvh}: jet pt differs from the input's (order or content)")
    # hit positions: the nearest pixel of each reconstructed (x, y); HCAL hits at their tower's centre
    tower = HCAL_TOWER_PIXELS
    for j, (raw, detail) in enumerate(zip(read_gvh_hits(reco_gvh), details)):
        ieta, iphi = nearest_pixel(detail.hits["x"]), nearest_pixel(detail.hits["y"])
        hcal = detail.hits["channel"] == HCAL
        ieta[hcal] = tower * (ieta[hcal] // tower) + tower // 2
        iphi[hcal] = tower * (iphi[hcal] // tower) + tower // 2
        if not (len(raw.hits) == len(ieta) and np.array_equal(raw.hits["ieta"], ieta)
                and np.array_equal(raw.hits["iphi"], iphi)
                and np.array_equal(raw.hits["channel"], detail.hits["channel"])):
            result.problems.append(f"{reco_gvh}: row {j}: hit positions are not the nearest pixels (tower "
                                   "centres for HCAL) of the reconstructed (x, y)")
    image_energy = reco.images.reshape(len(reco), -1).astype(np.float64).sum(axis=1)
    detail_energy = np.array([d.hits["energy"].astype(np.float64).sum() for d in details])
    if not np.allclose(image_energy, detail_energy, rtol=1e-5, atol=1e-5):
        result.problems.append(f"{reco_gvh}: per-jet energy differs from the details file "
                               f"(max {np.abs(image_energy - detail_energy).max():.3g} GeV)")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help=".gvh file gvaeRun read (source.fileName)")
    p.add_argument("--model", required=True, help="the model gvaeRun used (gvaeReco.modelPath)")
    p.add_argument("--details", required=True, help=".gvr details file gvaeRun wrote (out.detailsFileName)")
    p.add_argument("--reco", default=None, help="optional: the reconstructed .gvh gvaeRun wrote (out.fileName)")
    p.add_argument("--batch-size", type=int, default=64, help="bindings batch size (default 64)")
    p.add_argument("--mode", choices=["deterministic", "sampling"], default="deterministic",
                   help="producer mode gvaeRun used (sampling: gvaeReco.noise must be 'jet')")
    p.add_argument("--seed", type=int, default=0, help="sampling seed gvaeRun used (gvaeReco.seed)")
    p.add_argument("--device", default="cpu", help="device for the bindings: cpu | cuda | auto")
    p.add_argument("--atol-xy", type=float, default=DEFAULT_ATOL_XY, help="absolute tolerance on x, y")
    p.add_argument("--rtol-energy", type=float, default=DEFAULT_RTOL_ENERGY, help="relative tolerance on energy")
    p.add_argument("--atol-energy", type=float, default=DEFAULT_ATOL_ENERGY, help="absolute tolerance on energy [GeV]")
    p.add_argument("--out", default=None, help="write the comparison as JSON to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(name)s: %(message)s")

    result = compare(args.input, args.model, args.details, reco_gvh=args.reco, batch_size=args.batch_size,
                     mode=args.mode, seed=args.seed, device=args.device, atol_xy=args.atol_xy,
                     rtol_energy=args.rtol_energy, atol_energy=args.atol_energy)
    if args.out:
        Path(args.out).write_text(json.dumps(result.summary(), indent=2) + "\n")
    log.info("gvaeRun vs bindings: %d jets, %d hits; max |dx| %.3g, max |dy| %.3g, max |dE| %.3g GeV "
             "(relative %.3g): %s", result.jets, result.hits, result.max_abs_dx, result.max_abs_dy,
             result.max_abs_denergy, result.max_rel_denergy, "AGREE" if result.ok else "DIFFER")
    for problem in result.problems[:20]:
        log.error("%s", problem)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
