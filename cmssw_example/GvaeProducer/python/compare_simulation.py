"""Compare the fast simulation of ``gvaeRun`` (``process.path = simulation``) with the Python bindings
(``gvae._core.Simulator``) on the same generator jets and seeds.

Reads the generator jets exactly as the C++ ``GenJetSource`` does (a conditions ``.csv``: jet id =
row, type/pt/eta/phi; or the label/pt/eta/phi scalars and event ids of a ``.gvh``), groups them into
events of ``--jets-per-event`` jets, simulates every event with the bindings (same model, batch size
and seed; per-jet seeds ``jet_seed(seed, jet_id)``, the framework's default ``noise = jet``) and
compares jet by jet with the ``.gvh`` that ``gvaeRun`` wrote:

* same jets in the same order (event ids), the generator jet's pt, eta, phi (NaN where not given)
  and type as label;
* the same hits, **bit for bit**: channel, ``(ieta, iphi)`` (HCAL at the tower centre pixel ``5t+2``)
  and float32 energy; both sides run the same C++ code on the same batches, so any difference is a
  bug (``--rtol-energy`` relaxes the energy check, e.g. to compare different batchings);
* ``m0`` equal to the mass of the simulated calorimeter hits as ``gvae.simulate`` computes it
  (within ``--rtol-m0`` relative + 1e-3 GeV: float32 storage, and the mass of a jet with one
  calorimeter hit is the square root of a rounding residue);
* the file is an ordinary jet file: ``gvae.io.read_jets`` reads it (``python -m gvae.data inspect``).

Exit status 0 when everything agrees, 1 otherwise, 2 on bad input; ``--out`` writes the numbers as JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from gvae.geometry import HCAL, HCAL_TOWER_PIXELS, PIXEL_SIZE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comparison import Comparison  # noqa: E402
from recofile import read_gvh_hits  # noqa: E402

log = logging.getLogger("compare_simulation")

DEFAULT_RTOL_M0 = 1e-4
#: absolute m0 tolerance (GeV): the mass of a (nearly) single-hit jet is sqrt of a rounding residue of E^2
ATOL_M0 = 1e-3


@dataclass
class GenJets:
    """Generator jets ``[n]``: ``jet_id`` (u64), ``jet_type`` (i32, 1 top / 0 QCD), ``pt``, ``eta``, ``phi``
    (f64; eta/phi NaN where the input does not give them)."""

    jet_id: np.ndarray
    jet_type: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray

    def __len__(self) -> int:
        return len(self.jet_id)


@dataclass
class SimComparison(Comparison):
    """Result of :func:`compare` (:class:`comparison.Comparison` with the bit-identical jets and the
    worst relative difference of the calorimeter mass)."""

    identical_jets: int = 0
    max_rel_dm0: float = 0.0


def read_gen_jets(path: str | Path) -> GenJets:
    """The generator jets of a conditions ``.csv`` or a ``.gvh``, as ``GenJetSource`` reads them."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        from gvae.simulate import read_conditions

        c = read_conditions(path)
        n = len(c)
        return GenJets(np.arange(n, dtype=np.uint64), c.label.round().astype(np.int32), np.asarray(c.pt, np.float64),
                       np.asarray(c.eta, np.float64), np.asarray(c.phi, np.float64))
    raw = read_gvh_hits(path)
    return GenJets(np.array([j.event_id for j in raw], np.uint64), np.array([round(j.label) for j in raw], np.int32),
                   np.array([j.pt for j in raw], np.float64), np.array([j.eta for j in raw], np.float64),
                   np.array([j.phi for j in raw], np.float64))


def bindings_simulate(gen: GenJets, model_path: str | Path, *, batch_size: int = 64, seed: int = 0,
                      jets_per_event: int = 1, device: str = "cpu") -> list[dict[str, np.ndarray]]:
    """Simulate ``gen`` with ``gvae._core.Simulator`` event by event (``jets_per_event`` consecutive jets per
    call, as the framework does); per jet a dict of ``channel, ieta, iphi, energy`` arrays ``[n_hits]``.
    Jets without eta/phi are simulated at 0, as ``GvaeFastSimProducer`` does."""
    from gvae import _core

    model = _core.Model.load(str(model_path), device)
    simulator = _core.Simulator(model, batch_size=batch_size, seed=seed)
    eta = np.where(np.isfinite(gen.eta), gen.eta, 0.0)
    phi = np.where(np.isfinite(gen.phi), gen.phi, 0.0)
    jets: list[dict[str, np.ndarray]] = []
    for start in range(0, len(gen), jets_per_event):
        sl = slice(start, min(len(gen), start + jets_per_event))
        out = simulator.simulate(gen.jet_type[sl], gen.pt[sl], eta[sl], phi[sl], jet_ids=gen.jet_id[sl], rng=None)
        np.testing.assert_array_equal(out["jet_id"], gen.jet_id[sl])
        offsets = np.concatenate([[0], np.cumsum(out["counts"])]).astype(np.int64)
        for j in range(sl.stop - sl.start):
            a, b = offsets[j], offsets[j + 1]
            jets.append({k: np.asarray(out[k][a:b]) for k in ("channel", "ieta", "iphi", "energy")})
    return jets


def calo_mass(hits: np.ndarray) -> float:
    """``gvae.simulate``'s m0 of a jet's stored hits (pixel centres; GeV)."""
    from gvae.simulate import _calo_mass

    x = (hits["ieta"].astype(np.float64) - 62) * PIXEL_SIZE
    y = (hits["iphi"].astype(np.float64) - 62) * PIXEL_SIZE
    return _calo_mass(SimpleNamespace(channel=hits["channel"].astype(np.int64), x=x, y=y,
                                      energy=hits["energy"].astype(np.float64)))


def compare(gen_path: str | Path, model_path: str | Path, sim_gvh: str | Path, *, batch_size: int = 64,
            seed: int = 0, jets_per_event: int = 1, device: str = "cpu", rtol_energy: float = 0.0,
            rtol_m0: float = DEFAULT_RTOL_M0, max_problems: int = 20) -> SimComparison:
    """Compare ``sim_gvh`` (gvaeRun's simulation output) with the bindings on the jets of ``gen_path``."""
    import gvae.io

    gen = read_gen_jets(gen_path)
    result = SimComparison(tolerance={"hits": "bit for bit" if rtol_energy == 0 else f"energy rtol {rtol_energy}",
                                      "rtol_m0": rtol_m0, "atol_m0_gev": ATOL_M0})

    def problem(text: str) -> None:
        if len(result.problems) < max_problems:
            result.problems.append(text)

    written = read_gvh_hits(sim_gvh)
    if len(written) != len(gen):
        problem(f"gvaeRun wrote {len(written)} jets, the input has {len(gen)}")
    expected = bindings_simulate(gen, model_path, batch_size=batch_size, seed=seed, jets_per_event=jets_per_event,
                                 device=device)
    for j, (jet, ref) in enumerate(zip(written, expected)):
        result.jets += 1
        where = f"jet {j} (id {int(gen.jet_id[j])})"
        if jet.event_id != int(gen.jet_id[j]):
            problem(f"{where}: event_id {jet.event_id} in the output")
        for name, value, want in (("pt", jet.pt, gen.pt[j]), ("eta", jet.eta, gen.eta[j]), ("phi", jet.phi, gen.phi[j]),
                                  ("label", jet.label, float(gen.jet_type[j]))):
            want32 = float(np.float32(want))
            if not (value == want32 or (math.isnan(value) and math.isnan(want32))):
                problem(f"{where}: {name} {value} in the output, the generator jet has {want32}")
        ieta, iphi = ref["ieta"].astype(np.int64), ref["iphi"].astype(np.int64)
        hcal = ref["channel"] == HCAL
        t = HCAL_TOWER_PIXELS
        ieta[hcal], iphi[hcal] = t * (ieta[hcal] // t) + t // 2, t * (iphi[hcal] // t) + t // 2
        hits = jet.hits
        result.hits += len(hits)
        if len(hits) != len(ref["channel"]):
            problem(f"{where}: {len(hits)} hits in the output, the bindings give {len(ref['channel'])}")
            continue
        same_cells = (np.array_equal(hits["channel"], ref["channel"]) and np.array_equal(hits["ieta"], ieta)
                      and np.array_equal(hits["iphi"], iphi))
        if not same_cells:
            problem(f"{where}: hits on different cells (channel, ieta, iphi) than the bindings'")
            continue
        energy = hits["energy"].astype(np.float64)
        ref_energy = ref["energy"].astype(np.float32).astype(np.float64)
        if len(energy):
            result.max_abs_denergy = max(result.max_abs_denergy, float(np.max(np.abs(energy - ref_energy))))
        if rtol_energy == 0:
            if not np.array_equal(hits["energy"], ref["energy"].astype(np.float32)):
                problem(f"{where}: energies differ from the bindings' (max {result.max_abs_denergy:.3g} GeV)")
                continue
        elif not np.allclose(energy, ref_energy, rtol=rtol_energy, atol=0):
            problem(f"{where}: energies differ beyond rtol {rtol_energy}")
            continue
        result.identical_jets += int(np.array_equal(hits["energy"], ref["energy"].astype(np.float32)))
        m0 = calo_mass(hits)
        if m0 > 1.0:
            result.max_rel_dm0 = max(result.max_rel_dm0, abs(jet.m0 - m0) / m0)
        if abs(jet.m0 - m0) > rtol_m0 * m0 + ATOL_M0:
            problem(f"{where}: m0 {jet.m0} in the output, the calorimeter hits' mass is {m0}")
    # the output is an ordinary jet file for every reader
    try:
        batch = gvae.io.read_jets(sim_gvh)
        if len(batch) != len(written):
            problem(f"gvae.io.read_jets reads {len(batch)} jets, the file has {len(written)}")
    except Exception as exc:  # noqa: BLE001 - reported as a comparison problem
        problem(f"gvae.io.read_jets cannot read the output: {exc}")
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="compare_simulation.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--genjets", required=True, help="the generator jets gvaeRun read (genJets.fileName: .csv or .gvh)")
    p.add_argument("--model", required=True, help="the exported model (gvaeFastSim.modelPath)")
    p.add_argument("--sim", required=True, help="gvaeRun's simulated jets (simOut.fileName)")
    p.add_argument("--seed", type=int, default=0, help="gvaeFastSim.seed (default 0)")
    p.add_argument("--batch-size", type=int, default=64, help="gvaeFastSim.batchSize (default 64)")
    p.add_argument("--jets-per-event", type=int, default=1, help="genJets.jetsPerEvent (default 1)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    p.add_argument("--rtol-energy", type=float, default=0.0,
                   help="relative energy tolerance (default 0: bit for bit)")
    p.add_argument("--rtol-m0", type=float, default=DEFAULT_RTOL_M0, help="relative m0 tolerance (default 1e-4)")
    p.add_argument("--out", help="write the comparison as JSON to this file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from gvae.errors import GvaeError

    try:
        result = compare(args.genjets, args.model, args.sim, batch_size=args.batch_size, seed=args.seed,
                         jets_per_event=args.jets_per_event, device=args.device, rtol_energy=args.rtol_energy,
                         rtol_m0=args.rtol_m0)
    except (GvaeError, OSError) as exc:
        print(f"compare_simulation: error: {exc}", file=sys.stderr)
        return 2
    summary = result.summary()
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("simulation vs bindings: %d jets, %d hits, %d jets bit-identical, max |dE| %.3g GeV, max rel dm0 %.3g: %s",
             result.jets, result.hits, result.identical_jets, result.max_abs_denergy, result.max_rel_dm0,
             "OK" if result.ok else "DIFFERENT")
    for p in result.problems:
        log.info("  %s", p)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
