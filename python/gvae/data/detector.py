"""A CMS-like parametrised detector response: final-state particles around a jet axis -> one
end-to-end jet image ``float32 [3, 125, 125]`` (channels [track pT, ECAL, HCAL], GeV).

Every number of the response lives in :class:`DetectorConfig`, each with the CMS value it is
modelled on. The model, in the order it is applied to each particle:

1. **Tracker and magnet.** A charged particle moves on a helix in the solenoid field ``B``. At the
   ECAL front face (radius ``R``) its azimuth has turned by ``asin(0.3 B R / (2 pT))`` (pT in GeV,
   B in T, R in m); a positive charge turns towards smaller phi (the Lorentz force
   ``q v x B`` with ``B`` along +z). A particle with ``pT < 0.3 B R / 2`` (0.74 GeV for CMS) curls up
   inside the tracker and never reaches the calorimeters: it is removed from every channel.
   Tracks are reconstructed with a fixed efficiency inside the tracker acceptance and a Gaussian
   pT resolution; the track channel holds the measured pT at the pixel of the ECAL impact point.
   The polar angle is unchanged by the field, so eta is taken at the vertex.
2. **ECAL** (PbWO4 crystals, one crystal = one pixel). Photons and electrons deposit their energy,
   smeared with ``sigma/E = S/sqrt(E) (+) C`` (the noise term is applied per crystal, below), spread
   over neighbouring crystals by a core + tail transverse profile (the Moliere radius of PbWO4,
   2.2 cm, is about one crystal: ~75 % of the energy lands in the impact crystal, ~96 % in 3 x 3).
   A hadron crosses ~1.1 interaction lengths of PbWO4: with probability ``exp(-1.1)`` it passes as
   a minimum-ionising particle (MIP) and leaves ``mip_ecal`` in one crystal; otherwise its shower
   starts in the ECAL and a uniformly drawn fraction of its (smeared) energy is deposited there with
   a wider profile. Muons leave a MIP. Every crystal gets Gaussian electronics noise; crystals below
   the zero-suppression threshold read zero.
3. **HCAL** (towers of 5 x 5 crystals). The rest of a hadron's energy (smeared with the hadronic
   resolution ``100 %/sqrt(E) (+) 5 %``) is shared between the tower hit and its neighbours by a
   Gaussian lateral profile; muons leave a MIP. Towers get Gaussian noise and a threshold. In the
   image each of a tower's 25 pixels holds tower energy / 25 (end-to-end convention).
4. **Invisible particles** (neutrinos) leave nothing.

Simplifications (documented, deliberate): no pile-up, no material interactions before the ECAL
(photon conversions, bremsstrahlung), no e/h non-compensation (hadron energies are the calibrated
response), the whole 125 x 125 window is treated as barrel, calorimeter deposits of charged
particles sit at the ECAL-surface impact point in both calorimeters.

Pixel convention (``gvae.geometry``): the jet axis is the centre of pixel (62, 62); a particle at
``(deta, dphi)`` from the axis lands in pixel ``floor(d / 0.0174 + 62.5)``. HCAL tower ``t`` covers
pixels ``5t .. 5t+4`` of the same window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from gvae import geometry
from gvae.errors import ConfigError, InvalidInput
from gvae.jets import towers_to_pixels

_SIZE = geometry.IMAGE_SIZE
_TOWERS = geometry.N_TOWERS
_TOWER = geometry.HCAL_TOWER_PIXELS

#: PDG ids the calorimeters treat as electromagnetic (photon, electron).
EM_IDS = (11, 22)
#: PDG ids invisible to every sub-detector (neutrinos).
INVISIBLE_IDS = (12, 14, 16)
#: Muons: track + minimum-ionising deposits.
MUON_ID = 13


@dataclass(frozen=True)
class DetectorConfig:
    """Every number of the detector response, with the CMS value it is modelled on.

    Lengths in m, energies and momenta in GeV, angles in rad, transverse profile widths in cells
    (ECAL crystals or HCAL towers).
    """

    # --- magnet and geometry ------------------------------------------------------------------
    b_field: float = 3.8
    """Solenoid field in T (CMS: 3.8 T)."""
    r_ecal: float = 1.29
    """Radius of the ECAL barrel front face in m (CMS EB: 1.29 m)."""

    # --- tracker ------------------------------------------------------------------------------
    tracker_eta_max: float = 2.5
    """Tracker acceptance |eta| (CMS Phase-0/1 pixel + strip tracker: 2.5)."""
    track_efficiency: float = 0.95
    """Probability to reconstruct a charged particle that reaches the ECAL (CMS charged pions
    in jets: ~0.9-0.95; losses from nuclear interactions in the tracker)."""
    track_resolution_constant: float = 0.01
    """Constant term of sigma(pT)/pT (CMS barrel: ~1 % at low pT, multiple scattering)."""
    track_resolution_slope: float = 1.5e-4
    """Term growing with pT, per GeV: sigma(pT)/pT = a (+) b pT (CMS: ~1.5-2 % at 100 GeV)."""

    # --- ECAL ---------------------------------------------------------------------------------
    ecal_stochastic: float = 0.028
    """Stochastic term S of sigma/E = S/sqrt(E) (+) N/E (+) C (CMS EB test beam: 2.8 %)."""
    ecal_constant: float = 0.003
    """Constant term C (CMS EB test beam: 0.3 %)."""
    ecal_noise_3x3: float = 0.12
    """Noise term N in GeV for a 3 x 3 crystal sum (CMS EB test beam: 0.12 GeV). It is applied as
    independent per-crystal noise of N / 3 (sqrt(9) crystals add in quadrature)."""
    ecal_threshold: float = 0.15
    """Zero suppression: crystals below this energy read zero (3.75 x the per-crystal noise, so a
    125 x 125 window holds ~1 noise-only crystal; CMS EB reconstructed-hit thresholds are 0.08-0.2 GeV)."""
    em_core_sigma: float = 0.3
    """Width of the core of the electromagnetic transverse profile, in crystals."""
    em_tail_sigma: float = 1.0
    """Width of the tail of the electromagnetic transverse profile, in crystals."""
    em_tail_fraction: float = 0.15
    """Fraction of an electromagnetic shower in the tail (with the core: ~75 % in the impact
    crystal, ~96 % in 3 x 3, >99 % in 5 x 5, as for PbWO4 with a 2.2 cm Moliere radius)."""
    ecal_interaction_lengths: float = 1.13
    """ECAL depth in nuclear interaction lengths (23 cm of PbWO4, lambda_I = 20.3 cm). A hadron
    crosses it without showering with probability exp(-1.13) = 0.32."""
    hadron_ecal_fraction_min: float = 0.1
    hadron_ecal_fraction_max: float = 0.7
    """A hadron that showers in the ECAL leaves a fraction drawn uniformly in [min, max] of its
    energy there (early shower), the rest in the HCAL."""
    hadron_ecal_sigma: float = 1.2
    """Width of the transverse profile of the hadronic shower part in the ECAL, in crystals."""
    mip_ecal: float = 0.3
    """Energy a minimum-ionising particle leaves in 23 cm of PbWO4 (~10 MeV/cm x 23 cm + rise)."""

    # --- HCAL ---------------------------------------------------------------------------------
    hcal_stochastic: float = 1.0
    """Stochastic term of the hadronic resolution (CMS HB + EB: ~100 %/sqrt(E))."""
    hcal_constant: float = 0.05
    """Constant term of the hadronic resolution (CMS: ~5 %)."""
    hcal_tower_noise: float = 0.25
    """Gaussian noise per HCAL tower in GeV (CMS HB: ~0.2-0.3 GeV per tower)."""
    hcal_threshold: float = 0.8
    """Towers below this energy read zero (CMS HB rechit threshold for particle flow: ~0.8 GeV)."""
    hcal_sigma: float = 0.25
    """Width of the lateral hadronic shower profile in HCAL towers (one tower = 0.087 in eta and
    phi, ~15 cm at the HCAL face; hadron showers have a ~15 cm 90 % radius)."""
    mip_hcal: float = 2.0
    """Energy a muon leaves in the brass/scintillator HCAL (CMS HB: ~2 GeV)."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"DetectorConfig.{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= self.track_efficiency <= 1.0:
            raise ConfigError(f"DetectorConfig.track_efficiency must be in [0, 1], got {self.track_efficiency}")
        if not 0.0 <= self.em_tail_fraction <= 1.0:
            raise ConfigError(f"DetectorConfig.em_tail_fraction must be in [0, 1], got {self.em_tail_fraction}")
        if not self.hadron_ecal_fraction_min <= self.hadron_ecal_fraction_max <= 1.0:
            raise ConfigError("DetectorConfig.hadron_ecal_fraction_min <= hadron_ecal_fraction_max <= 1 "
                              "must hold")
        for name in ("b_field", "r_ecal", "em_core_sigma", "em_tail_sigma", "hadron_ecal_sigma", "hcal_sigma"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"DetectorConfig.{name} must be > 0")

    @property
    def curl_pt(self) -> float:
        """pT (GeV) below which a charged particle curls up before the ECAL: 0.3 B R / 2."""
        return 0.3 * self.b_field * self.r_ecal / 2.0

    @property
    def ecal_crystal_noise(self) -> float:
        """Per-crystal noise sigma in GeV (the 3 x 3 noise term / 3)."""
        return self.ecal_noise_3x3 / 3.0

    def as_dict(self) -> dict[str, float]:
        """The configuration as plain numbers (for dataset metadata)."""
        return {name: float(value) for name, value in vars(self).items()}


@dataclass
class Particles:
    """``n`` final-state particles, positions relative to the jet axis at the vertex.

    deta, dphi: float64 ``[n]`` eta and phi offsets from the jet axis (dphi wrapped to [-pi, pi)).
    pt, energy: float64 ``[n]`` in GeV.
    pid: int64 ``[n]`` PDG id (sign kept). charge: float64 ``[n]`` in units of e.
    """

    deta: np.ndarray
    dphi: np.ndarray
    pt: np.ndarray
    energy: np.ndarray
    pid: np.ndarray
    charge: np.ndarray

    def __post_init__(self) -> None:
        for name in ("deta", "dphi", "pt", "energy", "charge"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        self.pid = np.asarray(self.pid, dtype=np.int64)
        n = len(self.deta)
        for name in ("deta", "dphi", "pt", "energy", "pid", "charge"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise InvalidInput(f"must have shape ({n},), got {arr.shape}", field=name)
            if name != "pid" and not np.all(np.isfinite(arr)):
                raise InvalidInput("must be finite", field=name)
        if np.any(self.pt < 0) or np.any(self.energy < 0):
            raise InvalidInput("pt and energy must be >= 0", field="pt" if np.any(self.pt < 0) else "energy")

    def __len__(self) -> int:
        return len(self.deta)


def wrap_phi(phi: np.ndarray | float) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(phi, dtype=np.float64) + np.pi) % (2.0 * np.pi) - np.pi


def bend_to_ecal(pt: np.ndarray, charge: np.ndarray, config: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal turn of each particle between the vertex and the ECAL front face.

    Returns ``(dphi_shift [n], reaches [n] bool)``: ``phi_ecal = phi_vertex + dphi_shift``, with
    ``dphi_shift = -q asin(0.3 B R / (2 pT))``; neutral particles have shift 0. Charged particles with
    ``pT <= 0.3 B R / 2`` never reach the ECAL (``reaches`` False, shift 0).
    """
    pt = np.asarray(pt, dtype=np.float64)
    charge = np.asarray(charge, dtype=np.float64)
    charged = charge != 0
    ratio = np.divide(config.curl_pt, pt, out=np.full_like(pt, np.inf), where=pt > 0)
    reaches = ~charged | (ratio < 1.0)
    shift = np.zeros_like(pt)
    bent = charged & reaches
    shift[bent] = -np.sign(charge[bent]) * np.arcsin(ratio[bent])
    return shift, reaches


def _cell_fractions(centre: np.ndarray, sigma: float, half: int) -> tuple[np.ndarray, np.ndarray]:
    """1-D Gaussian profile integrated over cells around ``centre`` (fractional cell coordinates,
    cell ``i`` spans [i - 0.5, i + 0.5)). Returns (cell index ``[n, 2 half + 1]``, fraction ``[n, 2 half + 1]``)."""
    base = np.floor(centre + 0.5).astype(np.int64)
    offsets = np.arange(-half, half + 1)
    cells = base[:, None] + offsets[None, :]
    rel = cells - centre[:, None]
    frac = ndtr((rel + 0.5) / sigma) - ndtr((rel - 0.5) / sigma)
    return cells, frac


def _spread(grid: np.ndarray, ce: np.ndarray, cp: np.ndarray, energy: np.ndarray,
            profile: tuple[tuple[float, float], ...], half: int) -> None:
    """Add ``energy`` deposited at fractional cell coordinates ``(ce, cp)`` to the square ``grid``
    (float64 ``[S, S]``, modified in place), spread by a mixture of Gaussians ``((weight, sigma), ...)``
    over ``(2 half + 1)^2`` cells and renormalised so each deposit keeps its energy (cells falling
    outside the grid are lost, as outside the window)."""
    if len(energy) == 0:
        return
    size = grid.shape[0]
    k = 2 * half + 1
    weights = np.zeros((len(energy), k, k))
    cells_e = cells_p = None
    for weight, sigma in profile:
        cells_e, fe = _cell_fractions(ce, sigma, half)
        cells_p, fp = _cell_fractions(cp, sigma, half)
        weights += weight * fe[:, :, None] * fp[:, None, :]
    weights /= weights.sum(axis=(1, 2), keepdims=True)
    ie = np.broadcast_to(cells_e[:, :, None], weights.shape)
    ip = np.broadcast_to(cells_p[:, None, :], weights.shape)
    inside = (ie >= 0) & (ie < size) & (ip >= 0) & (ip < size)
    flat = (ie * size + ip)[inside]
    values = (weights * energy[:, None, None])[inside]
    grid += np.bincount(flat, weights=values, minlength=size * size).reshape(size, size)


def _single_cell(grid: np.ndarray, ce: np.ndarray, cp: np.ndarray, energy: np.ndarray) -> None:
    """Add each deposit to the one cell containing it (``grid`` float64 ``[S, S]``, in place)."""
    size = grid.shape[0]
    ie = np.floor(ce + 0.5).astype(np.int64)
    ip = np.floor(cp + 0.5).astype(np.int64)
    inside = (ie >= 0) & (ie < size) & (ip >= 0) & (ip < size)
    grid += np.bincount((ie * size + ip)[inside], weights=energy[inside],
                        minlength=size * size).reshape(size, size)


def _gamma_smear(rng: np.random.Generator, energy: np.ndarray, rel_sigma: np.ndarray) -> np.ndarray:
    """Positive smearing with mean ``energy`` and relative width ``rel_sigma`` (Gamma law, which
    stays > 0 where a Gaussian of 100 %/sqrt(E) would often go negative)."""
    out = np.zeros_like(energy)
    ok = energy > 0
    shape = 1.0 / np.square(rel_sigma[ok])
    out[ok] = rng.gamma(shape, energy[ok] / shape)
    return out


#: HCAL towers ``[25, 25]`` -> image channel ``[125, 125]`` (moved to gvae.jets.towers_to_pixels; alias kept for
#: other branches, remove after their merge).
towers_to_image = towers_to_pixels


def simulate(particles: Particles, rng: np.random.Generator,
             config: DetectorConfig = DetectorConfig(), jet_eta: float = 0.0) -> np.ndarray:
    """Detector response of one jet.

    particles: the final-state particles of the event (any number; those outside the window after
        bending are lost), positions relative to the jet axis.
    rng: the only source of randomness (draw order is fixed, so the same generator state gives
        the same image).
    config: the detector numbers.
    jet_eta: pseudorapidity of the jet axis (for the tracker acceptance, which is in absolute eta).
    Returns float32 ``[3, 125, 125]``: track pT, ECAL energy, HCAL energy (tower / 25 per pixel), GeV.
    """
    apid = np.abs(particles.pid)
    visible = ~np.isin(apid, INVISIBLE_IDS)
    shift, reaches = bend_to_ecal(particles.pt, particles.charge, config)
    keep = visible & reaches & (particles.energy > 0)
    apid = apid[keep]
    charge = particles.charge[keep]
    pt = particles.pt[keep]
    energy = particles.energy[keep]
    deta = particles.deta[keep]
    # fractional pixel coordinates of the ECAL impact point (centre of pixel 62 = jet axis)
    ue = deta / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL
    up = wrap_phi(particles.dphi[keep] + shift[keep]) / geometry.PIXEL_SIZE + geometry.CENTRE_PIXEL

    is_em = np.isin(apid, EM_IDS)
    is_mu = apid == MUON_ID
    is_had = ~is_em & ~is_mu
    charged = charge != 0

    # --- tracks ---
    track_grid = np.zeros((_SIZE, _SIZE))
    in_tracker = charged & (np.abs(jet_eta + deta) < config.tracker_eta_max)
    found = rng.random(len(pt)) < config.track_efficiency
    is_track = in_tracker & found
    rel = np.hypot(config.track_resolution_constant, config.track_resolution_slope * pt[is_track])
    track_pt = np.clip(pt[is_track] * (1.0 + rel * rng.standard_normal(int(is_track.sum()))), 0.0, None)
    _single_cell(track_grid, ue[is_track], up[is_track], track_pt)

    # --- ECAL: electromagnetic showers ---
    ecal_grid = np.zeros((_SIZE, _SIZE))
    e_em = energy[is_em]
    rel_em = np.hypot(config.ecal_stochastic / np.sqrt(e_em), config.ecal_constant)
    e_em = np.clip(e_em * (1.0 + rel_em * rng.standard_normal(len(e_em))), 0.0, None)
    _spread(ecal_grid, ue[is_em], up[is_em], e_em,
            ((1.0 - config.em_tail_fraction, config.em_core_sigma), (config.em_tail_fraction, config.em_tail_sigma)),
            half=2)

    # --- hadrons: ECAL / HCAL sharing ---
    e_had = energy[is_had]
    rel_had = np.hypot(config.hcal_stochastic / np.sqrt(e_had), config.hcal_constant)
    e_had = _gamma_smear(rng, e_had, rel_had)
    showers_in_ecal = rng.random(len(e_had)) >= math.exp(-config.ecal_interaction_lengths)
    frac = rng.uniform(config.hadron_ecal_fraction_min, config.hadron_ecal_fraction_max, len(e_had))
    e_had_ecal = np.where(showers_in_ecal, frac * e_had, np.minimum(config.mip_ecal, e_had))
    e_had_hcal = e_had - e_had_ecal
    ue_h, up_h = ue[is_had], up[is_had]
    _spread(ecal_grid, ue_h[showers_in_ecal], up_h[showers_in_ecal], e_had_ecal[showers_in_ecal],
            ((1.0, config.hadron_ecal_sigma),), half=3)
    _single_cell(ecal_grid, ue_h[~showers_in_ecal], up_h[~showers_in_ecal], e_had_ecal[~showers_in_ecal])

    # --- muons: minimum-ionising deposits ---
    _single_cell(ecal_grid, ue[is_mu], up[is_mu], np.minimum(config.mip_ecal, energy[is_mu]))

    # --- HCAL towers (fractional tower coordinates: tower t is centred on pixel 5t + 2) ---
    tower_grid = np.zeros((_TOWERS, _TOWERS))
    te = (ue_h - (_TOWER // 2)) / _TOWER
    tp = (up_h - (_TOWER // 2)) / _TOWER
    _spread(tower_grid, te, tp, e_had_hcal, ((1.0, config.hcal_sigma),), half=1)
    e_mu_hcal = np.clip(energy[is_mu] - config.mip_ecal, 0.0, config.mip_hcal)
    _single_cell(tower_grid, (ue[is_mu] - 2) / _TOWER, (up[is_mu] - 2) / _TOWER, e_mu_hcal)

    # --- noise and zero suppression ---
    ecal_grid += config.ecal_crystal_noise * rng.standard_normal(ecal_grid.shape)
    ecal_grid[ecal_grid < config.ecal_threshold] = 0.0
    tower_grid += config.hcal_tower_noise * rng.standard_normal(tower_grid.shape)
    tower_grid[tower_grid < config.hcal_threshold] = 0.0

    image = np.empty((geometry.N_CHANNELS, _SIZE, _SIZE), dtype=np.float32)
    image[geometry.TRACK] = track_grid
    image[geometry.ECAL] = ecal_grid
    image[geometry.HCAL] = towers_to_pixels(tower_grid)
    return image
