"""In-time pile-up: a pre-generated, seeded library of minimum-bias Pythia 8 events, sampled per
hard event with a Poisson number of overlaid events (as CMS pre-mixing samples a pile-up library).

Why a library. One minimum-bias event takes ~5 ms in Pythia 8 (13 TeV, ``SoftQCD:nonDiffractive``,
measured on the 2-core development machine under load, see ``benchmarks/results/generate.md``); at
a mean of 20 overlaid events that is ~100 ms per hard event, 3-4 times the cost of the hard event
itself. The library is generated once per ``(PileupSettings, Pythia version)``, cached on disk
(:func:`cache_dir`), and every generator worker reads the same file.

Sampling (:func:`overlay`), all draws from the caller's generator, in this order: the number of
overlaid events ``n ~ Poisson(mu)``; ``n`` library indices (uniform, with replacement); for each,
an azimuthal rotation uniform in [-pi, pi) and a reflection eta -> -eta with probability 1/2.
Minimum-bias events are symmetric under both, so rotated/reflected copies are valid events and a
library of a few thousand events gives effectively independent overlays.

Simplifications (documented, deliberate): in-time pile-up only (no out-of-time bunch crossings;
the 2012 run had 50 ns spacing), all pile-up vertices at the origin (the ~5 cm luminous-region
length would shift eta by ~0.02 at eta 0), the generator-level jet (``pt``, ``m0``) is clustered
on the hard event only: pile-up enters the detector images, not the stored jet.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gvae.errors import ConfigError, GvaeError

log = logging.getLogger(__name__)

#: Bump when the library file layout or the particle selection changes (it is part of the cache key).
LIBRARY_FORMAT = 1
#: Default mean number of pile-up interactions per bunch crossing. The CMS 2012 (8 TeV) run, from
#: which the CMS end-to-end open-data images come, had an average pile-up of about 21 (CMS public
#: luminosity results, 2012 pp, <mu> = 21); we use 20.
DEFAULT_MU = 20.0


@dataclass(frozen=True)
class PileupSettings:
    """How the minimum-bias library is made (every field is part of the cache key)."""

    sqrt_s: float = 13000.0
    """pp centre-of-mass energy in GeV (the same as the hard process, :mod:`gvae.data.generate`)."""
    n_events: int = 4000
    """Events in the library (~20 s of Pythia on one core; sampled with rotation and reflection)."""
    seed: int = 1
    """Seed of the library (fixed per campaign, like a CMS pre-mixing library; the per-event
    sampling uses the run's seed)."""
    eta_max: float = 3.0
    """Particles kept: |eta| < eta_max (jets have |eta| < 1.4, the window reaches 1.09 further and
    the re-centring on the hottest HCAL tower up to 0.44 more)."""

    def __post_init__(self) -> None:
        if not (self.sqrt_s > 0 and self.n_events >= 1 and 0 <= self.seed < 900_000_000 and self.eta_max > 0):
            raise ConfigError(f"invalid PileupSettings {self}: need sqrt_s > 0, n_events >= 1, "
                              "0 <= seed < 900000000, eta_max > 0")

    def pythia_lines(self) -> list[str]:
        """The Pythia 8 ``readString`` lines of the minimum-bias generation."""
        return [
            f"Beams:eCM = {self.sqrt_s}",
            "SoftQCD:nonDiffractive = on",  # the inelastic non-diffractive part, as CMS MinBias tunes
            "Random:setSeed = on",
            f"Random:seed = {self.seed + 1}",  # Pythia seeds must be >= 1
            "Print:quiet = on",
            "Next:numberCount = 0",
        ]


@dataclass
class PileupLibrary:
    """``n_events`` minimum-bias events, their final-state particles concatenated.

    offsets: int64 ``[n_events + 1]``, event ``i`` = particles ``offsets[i]:offsets[i+1]``.
    eta, phi, pt, energy: float32 ``[n_particles]`` (GeV, absolute eta/phi at the vertex).
    pid: int32 ``[n_particles]`` PDG id; charge: int8 ``[n_particles]`` in units of e.
    """

    offsets: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    pt: np.ndarray
    energy: np.ndarray
    pid: np.ndarray
    charge: np.ndarray

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        n = int(self.offsets[-1]) if len(self.offsets) else 0
        if len(self.offsets) < 2 or self.offsets[0] != 0 or np.any(np.diff(self.offsets) < 0):
            raise GvaeError("pile-up library: offsets must start at 0, be non-decreasing and hold >= 1 event")
        for name, dtype in (("eta", np.float32), ("phi", np.float32), ("pt", np.float32),
                            ("energy", np.float32), ("pid", np.int32), ("charge", np.int8)):
            arr = np.asarray(getattr(self, name), dtype=dtype)
            if arr.shape != (n,):
                raise GvaeError(f"pile-up library: {name} must have shape ({n},), got {arr.shape}")
            setattr(self, name, arr)

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1

    def particles_per_event(self) -> np.ndarray:
        """Kept particles per library event, int64 ``[n_events]``."""
        return np.diff(self.offsets)

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` atomically (concurrent workers never see a half-written file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **{k: getattr(self, k) for k in ("offsets", "eta", "phi", "pt", "energy", "pid", "charge")})
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PileupLibrary":
        with np.load(path) as data:
            return cls(**{k: data[k] for k in ("offsets", "eta", "phi", "pt", "energy", "pid", "charge")})


def generate_library(settings: PileupSettings = PileupSettings()) -> PileupLibrary:
    """Run Pythia 8 minimum bias (``settings.n_events`` events); keep final-state particles with
    ``pT > 0`` and ``|eta| < settings.eta_max`` (neutrinos included: the detector ignores them)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings.pythia_lines():
        if not pythia.readString(line):
            raise GvaeError(f"Pythia rejected the setting '{line}'")
    if not pythia.init():
        raise GvaeError("Pythia initialisation failed for the minimum-bias library")
    start = time.perf_counter()
    parts: list[np.ndarray] = []
    offsets = [0]
    failures = 0
    while len(offsets) - 1 < settings.n_events:
        if not pythia.next():
            failures += 1
            if failures > 100 + settings.n_events:
                raise GvaeError("minimum-bias generation: too many failed Pythia events")
            continue
        rows = [(p.px(), p.py(), p.pz(), p.e(), p.id(), p.charge()) for p in pythia.event if p.isFinal()]
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        pt = np.hypot(arr[:, 0], arr[:, 1])
        good = pt > 0
        eta = np.zeros_like(pt)
        eta[good] = np.arcsinh(arr[good, 2] / pt[good])
        keep = good & (np.abs(eta) < settings.eta_max)
        phi = np.arctan2(arr[:, 1], arr[:, 0])
        parts.append(np.stack([eta[keep], phi[keep], pt[keep], arr[keep, 3], arr[keep, 4], arr[keep, 5]], axis=1))
        offsets.append(offsets[-1] + int(keep.sum()))
    allp = np.concatenate(parts) if parts else np.zeros((0, 6))
    log.info("minimum-bias library: %d events, %d particles in %.1f s", settings.n_events, len(allp),
             time.perf_counter() - start)
    return PileupLibrary(offsets=np.asarray(offsets), eta=allp[:, 0], phi=allp[:, 1], pt=allp[:, 2],
                         energy=allp[:, 3], pid=np.rint(allp[:, 4]).astype(np.int32),
                         charge=np.rint(allp[:, 5]).astype(np.int8))


def cache_dir() -> Path:
    """Where libraries are cached: ``$GVAE_CACHE_DIR``, else ``$XDG_CACHE_HOME/gvae``, else
    ``~/.cache/gvae`` (a ``pileup/`` folder inside it)."""
    root = os.environ.get("GVAE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gvae")
    return Path(root) / "pileup"


def library_key(settings: PileupSettings) -> str:
    """Cache key: the settings, the library format and the Pythia version."""
    try:
        version = importlib.metadata.version("pythia8mc")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    text = f"{LIBRARY_FORMAT}|{sorted(asdict(settings).items())}|pythia8mc={version}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def library_path(settings: PileupSettings, directory: str | os.PathLike | None = None) -> Path:
    """The cache file of ``settings`` (it may not exist yet)."""
    d = Path(directory) if directory is not None else cache_dir()
    return d / f"minbias-{int(settings.sqrt_s)}-{settings.n_events}-{settings.seed}-{library_key(settings)}.npz"


def cached_library(settings: PileupSettings = PileupSettings(),
                   directory: str | os.PathLike | None = None) -> PileupLibrary:
    """The library of ``settings``: read from the cache, else generated and cached."""
    path = library_path(settings, directory)
    if path.exists():
        try:
            return PileupLibrary.load(path)
        except (OSError, KeyError, ValueError, GvaeError) as exc:  # damaged entry: regenerate
            log.warning("pile-up library %s unreadable (%s); regenerating", path, exc)
            path.unlink(missing_ok=True)
    log.info("generating the minimum-bias library (%d events) into %s", settings.n_events, path)
    library = generate_library(settings)
    try:
        library.save(path)
    except OSError as exc:  # a read-only cache is not fatal: the library is used from memory
        log.warning("could not cache the pile-up library at %s: %s", path, exc)
    return library


@dataclass
class Overlay:
    """Pile-up particles of one bunch crossing (absolute coordinates at the vertex).

    n_interactions: the Poisson-drawn number of overlaid events.
    eta, phi, pt, energy: float64 ``[m]``; pid: int64 ``[m]``; charge: float64 ``[m]``.
    """

    n_interactions: int
    eta: np.ndarray
    phi: np.ndarray
    pt: np.ndarray
    energy: np.ndarray
    pid: np.ndarray
    charge: np.ndarray


def overlay(library: PileupLibrary, mu: float, rng: np.random.Generator) -> Overlay:
    """Draw one bunch crossing's pile-up: ``Poisson(mu)`` library events, each rotated in phi and
    reflected in eta at random (draw order documented in the module docstring)."""
    if not (np.isfinite(mu) and mu >= 0):
        raise ConfigError(f"pile-up mean must be a finite number >= 0, got {mu}")
    n = int(rng.poisson(mu))
    idx = rng.integers(0, library.n_events, n)
    rotation = rng.uniform(-np.pi, np.pi, n)
    flip = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    starts, stops = library.offsets[idx], library.offsets[idx + 1]
    counts = stops - starts
    total = int(counts.sum())
    # particle indices of the chosen events, event by event: start_k + 0 .. count_k - 1
    event_of = np.repeat(np.arange(n), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    take = np.repeat(starts, counts) + (np.arange(total) - first)
    phi = library.phi[take].astype(np.float64) + rotation[event_of]
    phi = (phi + np.pi) % (2.0 * np.pi) - np.pi
    return Overlay(n_interactions=n, eta=library.eta[take].astype(np.float64) * flip[event_of], phi=phi,
                   pt=library.pt[take].astype(np.float64), energy=library.energy[take].astype(np.float64),
                   pid=library.pid[take].astype(np.int64), charge=library.charge[take].astype(np.float64))


@dataclass(frozen=True)
class PileupConfig:
    """Pile-up of a generation run: Poisson mean ``mu`` (0 = none), the library settings and where
    the library is cached (None: :func:`cache_dir`)."""

    mu: float = DEFAULT_MU
    library: PileupSettings = PileupSettings()
    cache: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.mu, (int, float)) and np.isfinite(self.mu) and self.mu >= 0):
            raise ConfigError(f"pile-up mean must be a finite number >= 0, got {self.mu!r}")

    def load(self) -> PileupLibrary | None:
        """The library (generated and cached on first use), or None when ``mu == 0``."""
        return cached_library(self.library, self.cache) if self.mu > 0 else None


NO_PILEUP = PileupConfig(mu=0.0)
