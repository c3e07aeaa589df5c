"""Jet-image generator: Pythia 8 events -> FastJet anti-kt jets -> CMS-like detector images.

``generate_jets(process, n_jets, seed)`` returns a :class:`gvae.jets.JetBatch`;
``generate_to_file(...)`` streams the same jets into any format :mod:`gvae.io` writes.

Physics (numbers in :class:`GeneratorSettings`): pp at 13 TeV, ``PhaseSpace:pTHatMin = 400``;
``ttbar`` = ``Top:gg2ttbar`` + ``Top:qqbar2ttbar`` with W -> q q' only (both tops hadronic);
``qcd`` = ``HardQCD:all``; ``mixed`` = ttbar and QCD jets interleaved (even rows ttbar, odd rows QCD).
Jets: anti-kt R = 0.8 on the visible final-state particles, pT > 400 GeV, |eta| < 1.4, all such
jets of an event are kept in pT order. A ttbar jet is kept (label 1) only when a top quark and its
b, q and q' all lie within dR < 0.8 of the jet axis; other ttbar jets are skipped. QCD jets get
label 0. ``m0``, ``pt``, ``eta`` and ``phi`` are those of the generator-level jet (anti-kt on the
visible final-state particles of the hard event, pile-up excluded), not a reconstructed jet. The
image holds every final-state particle of the event around the jet axis plus in-time pile-up
(:mod:`gvae.data.pileup`, Poisson mean ``--pileup``, default 20), passed through
:mod:`gvae.data.detector`; by default the window is centred on the hottest HCAL tower within 0.4 of the
jet axis, and ``ieta``/``iphi`` are the crystal indices of the window centre.

Determinism. The jets are made in blocks of :data:`BLOCK_SIZE`; block ``b`` of process ``p`` draws
every random number (Pythia's, the detector's and the pile-up sampling's) from streams seeded by
``SeedSequence(seed, spawn_key=(p, b))``, and blocks are merged in block order. The minimum-bias
library is fixed by its own settings (seeded, cached on disk), the same for every worker. All Pythia
instances of a run are initialised with the same seed, and Pythia keeps no event-to-event state
that changes the physics (``PhaseSpace:increaseMaximum`` is off), so the output depends only on
``(process, n_jets, seed, detector, pile-up)``: the same arrays for any number of workers (checked by
``tests/test_generate.py``), and the first ``n`` jets of a longer run equal a run of ``n`` jets.
"""
from __future__ import annotations

import argparse
import logging
import math
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from gvae import geometry
from gvae.data.detector import DetectorConfig, Particles, simulate_window, wrap_phi
from gvae.data.pileup import DEFAULT_MU, PileupConfig, PileupLibrary, PileupSettings, overlay
from gvae.errors import ConfigError, GvaeError
from gvae.jets import SCALARS, JetBatch

log = logging.getLogger(__name__)

PROCESSES: tuple[str, ...] = ("ttbar", "qcd", "mixed")
#: Stream id of each elementary process in the seed derivation (never change: it changes the data).
_PROCESS_CODE = {"ttbar": 1, "qcd": 2}
#: Jets per block: the unit of work and of seeding. Changing it changes the generated data.
BLOCK_SIZE = 16
#: Events tried per block before giving up (guards against a configuration that yields no jets).
_MAX_EVENTS_PER_JET = 200
_INIT_KEY = 0xFFFF_FFFF


@dataclass(frozen=True)
class GeneratorSettings:
    """Event generation and jet selection numbers (CMS end-to-end top-tagging dataset choices)."""

    sqrt_s: float = 13000.0  #: pp centre-of-mass energy in GeV
    pt_hat_min: float = 400.0  #: PhaseSpace:pTHatMin in GeV
    jet_r: float = 0.8  #: anti-kt radius
    jet_pt_min: float = 400.0  #: jet pT cut in GeV
    jet_eta_max: float = 1.4  #: jet |eta| cut (inside the ECAL barrel, |eta| < 1.479)
    top_match_dr: float = 0.8  #: top, b, q, q' must all be within this dR of the jet axis


SETTINGS = GeneratorSettings()


def pythia_settings(process: str, seed: int, settings: GeneratorSettings = SETTINGS) -> list[str]:
    """The Pythia 8 ``readString`` lines for an elementary process (``ttbar`` or ``qcd``)."""
    lines = [
        f"Beams:eCM = {settings.sqrt_s}",
        f"PhaseSpace:pTHatMin = {settings.pt_hat_min}",
        "PhaseSpace:increaseMaximum = off",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Print:quiet = on",
        "Next:numberCount = 0",
    ]
    if process == "ttbar":
        lines += ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on",
                  "24:onMode = off", "24:onIfAny = 1 2 3 4 5"]
    elif process == "qcd":
        lines += ["HardQCD:all = on"]
    else:
        raise ConfigError(f"unknown elementary process '{process}', expected 'ttbar' or 'qcd'")
    return lines


def _check_process(process: str) -> None:
    if process not in PROCESSES:
        raise ConfigError(f"unknown process '{process}', expected one of {', '.join(PROCESSES)}")


def _seed_sequence(seed: int, process: str, block: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(_PROCESS_CODE[process], int(block)))


def _pythia_seed(ss: np.random.SeedSequence) -> int:
    """A Pythia seed (1 .. 900 000 000) from a seed sequence."""
    return int(ss.generate_state(1, np.uint32)[0]) % 900_000_000 + 1


def _delta_r(eta1: float, phi1: float, eta2: float, phi2: float) -> float:
    return math.hypot(eta1 - eta2, float(wrap_phi(phi1 - phi2)))


class _EventSource:
    """Pythia instances (one per elementary process, created on first use) turning blocks into jets."""

    def __init__(self, seed: int, detector: DetectorConfig, settings: GeneratorSettings = SETTINGS,
                 pileup: PileupConfig = PileupConfig()) -> None:
        import fastjet
        import fastjet._swig as fj_swig

        fj_swig.ClusterSequence.set_fastjet_banner_stream(None)  # no banner on stdout
        self._fastjet = fastjet
        self._jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, settings.jet_r)
        self.seed, self.detector, self.settings = int(seed), detector, settings
        self.pileup = pileup
        self._library: PileupLibrary | None = pileup.load()
        self._pythia: dict[str, object] = {}

    def pythia(self, process: str):
        """The initialised Pythia for ``process`` (every instance of a run gets the same init seed)."""
        if process not in self._pythia:
            import pythia8mc

            pythia = pythia8mc.Pythia("", False)
            init_seed = _pythia_seed(_seed_sequence(self.seed, process, _INIT_KEY))
            for line in pythia_settings(process, init_seed, self.settings):
                if not pythia.readString(line):
                    raise GvaeError(f"Pythia rejected the setting '{line}'")
            if not pythia.init():
                raise GvaeError(f"Pythia initialisation failed for process '{process}'")
            self._pythia[process] = pythia
        return self._pythia[process]

    def block(self, process: str, block: int, n_jets: int) -> JetBatch:
        """Jets ``block * BLOCK_SIZE ...`` of ``process`` (``n_jets`` of them), independent of any other block."""
        ss = _seed_sequence(self.seed, process, block)
        pythia_ss, detector_ss, pileup_ss = ss.spawn(3)
        pythia = self.pythia(process)
        pythia.rndm.init(_pythia_seed(pythia_ss))
        rng = np.random.default_rng(detector_ss)
        pileup_rng = np.random.default_rng(pileup_ss)
        images: list[np.ndarray] = []
        scalars: dict[str, list[float]] = {name: [] for name in SCALARS}
        max_events = max(_MAX_EVENTS_PER_JET * n_jets, 1000)
        events = failures = 0
        while len(images) < n_jets:
            if events >= max_events:
                raise GvaeError(f"{process} block {block}: only {len(images)} of {n_jets} jets after {events} "
                                f"events ({failures} failed); check the generator settings")
            events += 1
            if not pythia.next():
                failures += 1
                continue
            for image, values in self._event_jets(pythia.event, process, rng, pileup_rng):
                images.append(image)
                for name, value in values.items():
                    scalars[name].append(value)
                if len(images) == n_jets:
                    break
        if failures:
            log.debug("%s block %d: %d of %d Pythia events failed and were skipped", process, block, failures, events)
        label = f"<generated {process} seed={self.seed}>"
        return JetBatch(np.stack(images) if images else np.zeros((0, 3, geometry.IMAGE_SIZE, geometry.IMAGE_SIZE),
                                                                   np.float32),
                        **{k: np.asarray(v) for k, v in scalars.items()}, source=label,
                        first_row=block * BLOCK_SIZE)

    def _event_jets(self, event, process: str, rng: np.random.Generator, pileup_rng: np.random.Generator):
        """Yield ``(image, scalars)`` for every selected jet of one event, in jet-pT order. The event's
        pile-up is drawn once (from ``pileup_rng``), when its first jet is selected."""
        fastjet, s = self._fastjet, self.settings
        PseudoJet = fastjet.PseudoJet
        rows: list[tuple[float, float, float, float, int, float]] = []
        pseudojets = []
        tops: list[int] = []
        for prt in event:
            if prt.isFinal():
                px, py, pz, e = prt.px(), prt.py(), prt.pz(), prt.e()
                rows.append((px, py, pz, e, prt.id(), prt.charge()))
                if prt.isVisible():
                    pseudojets.append(PseudoJet(px, py, pz, e))
            elif process == "ttbar" and prt.idAbs() == 6 and prt.iBotCopyId() == prt.index():
                tops.append(prt.index())
        cluster = fastjet.ClusterSequence(pseudojets, self._jet_def)
        jets = [j for j in fastjet.sorted_by_pt(cluster.inclusive_jets(s.jet_pt_min))
                if abs(j.eta()) < s.jet_eta_max]
        if not jets:
            return
        top_partons = [self._top_partons(event, i) for i in tops] if process == "ttbar" else []
        arr = np.asarray(rows, dtype=np.float64)
        px, py, pz, energy = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
        pid, charge = arr[:, 4].astype(np.int64), arr[:, 5]
        pt = np.hypot(px, py)
        good = pt > 0
        eta = np.where(good, np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=good)), 0.0)
        phi = np.arctan2(py, px)
        with_pileup = False
        for jet in jets:
            jet_eta, jet_phi = jet.eta(), jet.phi_std()
            if process == "ttbar":
                matched = any(all(_delta_r(jet_eta, jet_phi, e, p) < s.top_match_dr for e, p in partons)
                              for partons in top_partons if partons)
                if not matched:
                    continue
            if not with_pileup and self._library is not None:
                pu = overlay(self._library, self.pileup.mu, pileup_rng)
                eta, phi, pt, energy = (np.concatenate([eta, pu.eta]), np.concatenate([phi, pu.phi]),
                                        np.concatenate([pt, pu.pt]), np.concatenate([energy, pu.energy]))
                pid, charge = np.concatenate([pid, pu.pid]), np.concatenate([charge, pu.charge])
                good = np.concatenate([good, np.ones(len(pu.pt), dtype=bool)])
                with_pileup = True
            # window half-width 1.09, re-centring up to 0.44, plus margin
            near = good & (np.abs(eta - jet_eta) < 1.6)
            particles = Particles(deta=eta[near] - jet_eta, dphi=wrap_phi(phi[near] - jet_phi), pt=pt[near],
                                  energy=energy[near], pid=pid[near], charge=charge[near])
            image, (shift_eta, shift_phi) = simulate_window(particles, rng, self.detector, jet_eta=jet_eta)
            yield image, {
                "pt": jet.pt(), "m0": jet.m(), "y": 1.0 if process == "ttbar" else 0.0,
                "eta": jet_eta, "phi": jet_phi,
                # crystal indices of the window centre (the jet axis when the window is not re-centred)
                "ieta": int(round(jet_eta / geometry.PIXEL_SIZE)) + shift_eta,
                "iphi": int(round(jet_phi / geometry.PIXEL_SIZE)) + shift_phi,
            }

    @staticmethod
    def _top_partons(event, i_top: int) -> list[tuple[float, float]]:
        """(eta, phi) of the top, its b and the W's q and q' ([] if the top does not decay to b q q')."""
        top = event[i_top]
        b = w = None
        for d in top.daughterList():
            if event[d].idAbs() == 5:
                b = event[d]
            elif event[d].idAbs() == 24:
                w = event[event[d].iBotCopyId()]
        if b is None or w is None:
            return []
        quarks = [event[d] for d in w.daughterList() if 1 <= event[d].idAbs() <= 5]
        if len(quarks) != 2:
            return []
        return [(p.eta(), p.phi()) for p in (top, b, *quarks)]


# ---------------------------------------------------------------------------------------------
# work plan, workers, merging

def _plan(process: str, n_jets: int) -> list[tuple[str, int, int]]:
    """Tasks ``(elementary process, block, n_jets)`` in output order (mixed: ttbar and QCD blocks alternate)."""
    def blocks(proc: str, n: int) -> list[tuple[str, int, int]]:
        return [(proc, b, min(BLOCK_SIZE, n - b * BLOCK_SIZE)) for b in range(math.ceil(n / BLOCK_SIZE))]

    if process != "mixed":
        return blocks(process, n_jets)
    tt, qcd = blocks("ttbar", (n_jets + 1) // 2), blocks("qcd", n_jets // 2)
    tasks: list[tuple[str, int, int]] = []
    for i in range(len(tt)):
        tasks.append(tt[i])
        if i < len(qcd):
            tasks.append(qcd[i])
    return tasks


def _interleave(tt: JetBatch, qcd: JetBatch) -> JetBatch:
    """Rows t0, q0, t1, q1, ... (``tt`` may hold one jet more than ``qcd``)."""
    n = len(tt) + len(qcd)
    order = np.empty(n, dtype=np.int64)
    order[0::2] = np.arange(len(tt))
    order[1::2] = len(tt) + np.arange(len(qcd))
    both = JetBatch.concatenate([tt, qcd])
    return JetBatch(both.images[order], **{k: v[order] for k, v in both.scalars().items()})


_WORKER: _EventSource | None = None


def _worker_init(seed: int, detector: DetectorConfig, pileup: PileupConfig) -> None:
    global _WORKER
    logging.basicConfig(level=logging.WARNING)
    _WORKER = _EventSource(seed, detector, pileup=pileup)


def _worker_task(task: tuple[str, int, int]) -> JetBatch:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.block(*task)


def default_workers() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def iter_generated(process: str, n_jets: int, seed: int, workers: int | None = None,
                   detector: DetectorConfig = DetectorConfig(), progress: bool = True,
                   pileup: PileupConfig = PileupConfig()) -> Iterator[JetBatch]:
    """Generated jets in output order, one block (or, for ``mixed``, one ttbar+QCD block pair) at a time."""
    _check_process(process)
    if n_jets < 0:
        raise ConfigError(f"n_jets must be >= 0, got {n_jets}")
    if not 0 <= int(seed) < 2**63:
        raise ConfigError(f"seed must be in [0, 2^63), got {seed}")
    tasks = _plan(process, n_jets)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    workers = max(1, min(workers, len(tasks)))
    log.info("generating %d %s jets (seed %d, pile-up mean %g) in %d blocks on %d worker(s)", n_jets, process,
             seed, pileup.mu, len(tasks), workers)
    if tasks:
        pileup.load()  # generate and cache the minimum-bias library once, before the workers read it
    start = time.perf_counter()
    bar = tqdm(total=n_jets, unit="jet", desc=f"generate {process}", disable=not progress, leave=False)
    pool = None
    try:
        if workers == 1:
            source = _EventSource(seed, detector, pileup=pileup)
            results: Iterator[JetBatch] = (source.block(*task) for task in tasks)
        else:
            pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(seed, detector, pileup))
            results = pool.imap(_worker_task, tasks)
        pending: JetBatch | None = None
        row = 0
        for task, batch in zip(tasks, results):
            if process == "mixed" and task[0] == "ttbar":
                pending = batch
                if task is not tasks[-1]:
                    continue
                out = pending
            elif process == "mixed":
                out = _interleave(pending, batch)
            else:
                out = batch
            out.source, out.first_row = f"<generated {process} seed={seed}>", row
            row += len(out)
            bar.update(len(out))
            yield out
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    elapsed = time.perf_counter() - start
    log.info("generated %d %s jets in %.1f s (%.1f jets/s, %.1f jets/s per worker)", n_jets, process, elapsed,
             n_jets / elapsed if elapsed else float("nan"), n_jets / elapsed / workers if elapsed else float("nan"))


def generate_jets(process: str, n_jets: int, seed: int, workers: int | None = None,
                  detector: DetectorConfig = DetectorConfig(), progress: bool = True,
                  pileup: PileupConfig = PileupConfig()) -> JetBatch:
    """Generate ``n_jets`` jets of ``process`` (``ttbar``, ``qcd`` or ``mixed``) in memory.

    Returns a JetBatch with images float32 ``[n_jets, 3, 125, 125]`` and pt, m0, y, eta, phi, ieta,
    iphi. ``workers`` processes (default: every core); the result does not depend on it.
    ``pileup``: in-time pile-up (default: Poisson mean 20; :data:`gvae.data.pileup.NO_PILEUP` for none).
    """
    batches = list(iter_generated(process, n_jets, seed, workers, detector, progress, pileup))
    if not batches:
        return JetBatch(np.zeros((0, 3, geometry.IMAGE_SIZE, geometry.IMAGE_SIZE), np.float32),
                        np.zeros(0), np.zeros(0), np.zeros(0), source=f"<generated {process} seed={seed}>")
    return JetBatch.concatenate(batches)


def generate_to_file(process: str, n_jets: int, seed: int, out: str | os.PathLike, workers: int | None = None,
                     chunk_size: int = 256, detector: DetectorConfig = DetectorConfig(),
                     progress: bool = True, pileup: PileupConfig = PileupConfig()) -> int:
    """Generate jets straight into ``out`` (format from the extension, via :class:`gvae.io.JetWriter`),
    holding at most ~``chunk_size`` + one block of jets in memory. Returns the number of jets written."""
    from gvae.io import JetWriter

    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    written = 0
    buffer: list[JetBatch] = []
    buffered = 0
    with JetWriter(out) as writer:
        for batch in iter_generated(process, n_jets, seed, workers, detector, progress, pileup):
            buffer.append(batch)
            buffered += len(batch)
            if buffered >= chunk_size:
                writer.write(JetBatch.concatenate(buffer))
                written += buffered
                buffer, buffered = [], 0
        if buffer:
            writer.write(JetBatch.concatenate(buffer))
            written += buffered
    log.info("wrote %d jets to %s", written, out)
    return written


# ---------------------------------------------------------------------------------------------
# command line (``python -m gvae.data generate`` calls add_arguments + run)

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``generate`` options to ``parser``."""
    parser.add_argument("--process", required=True, choices=PROCESSES,
                        help="ttbar: hadronic top jets (label 1); qcd: light-quark/gluon jets (label 0); "
                             "mixed: both, interleaved (even rows ttbar, odd rows qcd)")
    parser.add_argument("--jets", type=int, required=True, metavar="N", help="number of jets to generate")
    parser.add_argument("--seed", type=int, required=True, metavar="S",
                        help="random seed; the same seed and N give identical files for any --workers")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file; the format comes from the extension (.parquet, .h5, .root, .gvh)")
    parser.add_argument("--workers", type=int, default=None, metavar="W",
                        help="worker processes (default: every available core)")
    parser.add_argument("--chunk-size", type=int, default=256, metavar="C",
                        help="jets buffered in memory between writes (default: 256)")
    parser.add_argument("--pileup", type=float, default=DEFAULT_MU, metavar="MU",
                        help="mean number of in-time pile-up interactions per event (Poisson), overlaid from a "
                             f"seeded minimum-bias library; 0 = none (default: {DEFAULT_MU:g}, about the CMS 2012 "
                             "average)")
    parser.add_argument("--pileup-library-events", type=int, default=PileupSettings().n_events, metavar="N",
                        help="minimum-bias events in the pile-up library (generated once, then cached; "
                             f"default: {PileupSettings().n_events})")
    parser.add_argument("--pileup-cache", default=None, metavar="DIR",
                        help="directory of the cached minimum-bias library (default: $GVAE_CACHE_DIR/pileup, "
                             "else ~/.cache/gvae/pileup)")
    parser.add_argument("--no-centre", action="store_true",
                        help="keep the window centred on the generator jet axis instead of the most energetic "
                             "HCAL tower within dR < 0.4 of it (the CMS end-to-end convention, default)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def pileup_from_args(args: argparse.Namespace) -> PileupConfig:
    """The :class:`PileupConfig` of parsed ``generate`` arguments (ConfigError on bad values)."""
    if args.pileup_library_events < 1:
        raise ConfigError(f"--pileup-library-events must be >= 1, got {args.pileup_library_events}")
    if not (math.isfinite(args.pileup) and args.pileup >= 0):
        raise ConfigError(f"--pileup must be a finite number >= 0, got {args.pileup}")
    return PileupConfig(mu=args.pileup, library=PileupSettings(n_events=args.pileup_library_events),
                        cache=args.pileup_cache)


def run(args: argparse.Namespace) -> int:
    """Run ``generate`` with parsed arguments; returns the process exit code."""
    if args.jets < 1:
        raise ConfigError(f"--jets must be >= 1, got {args.jets}")
    detector = DetectorConfig(centre_on_hcal=not args.no_centre)
    generate_to_file(args.process, args.jets, args.seed, args.out, workers=args.workers,
                     chunk_size=args.chunk_size, progress=not args.no_progress, detector=detector,
                     pileup=pileup_from_args(args))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gvae.data.generate --process ttbar --jets N --seed S --out FILE [--workers W]``."""
    parser = argparse.ArgumentParser(
        prog="python -m gvae.data.generate",
        description="Generate CMS-like jet images with Pythia 8 + FastJet + a parametrised detector "
                    "(pp 13 TeV, pTHat > 400 GeV, anti-kt R=0.8 jets with pT > 400 GeV, |eta| < 1.4).")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from gvae.cli import run_stage

    return run_stage("gvae.data.generate", lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
