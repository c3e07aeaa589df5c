"""A CMS-like parametrised detector response: final-state particles around a jet axis (hard event
plus pile-up) -> one end-to-end jet image ``float32 [3, 125, 125]`` (channels [track pT, ECAL, HCAL], GeV).

Every number of the response lives in :class:`DetectorConfig`, each with the CMS value it is
modelled on and its source. The model, in the order it is applied to each particle:

1. **Tracker and magnet.** A charged particle moves on a helix in the solenoid field ``B``. At the
   ECAL front face (radius ``R``) its azimuth has turned by ``asin(0.3 B R / (2 pT))`` (pT in GeV,
   B in T, R in m); a positive charge turns towards smaller phi (the Lorentz force
   ``q v x B`` with ``B`` along +z). A particle with ``pT < 0.3 B R / 2`` (0.74 GeV for CMS) curls up
   inside the tracker and never reaches the calorimeters: it is removed from every channel.
   Tracks are reconstructed with the efficiency of the CMS tracking paper (JINST 9 P10009: 94 % for
   |eta| < 0.9, 85 % beyond, muons 100 %) and a Gaussian resolution ``1.5 % (+) 2.36e-4 pT``
   (2.8 % at 100 GeV); the track channel holds the measured pT at the pixel of the ECAL impact point.
   The polar angle is unchanged by the field, so eta is taken at the vertex.
2. **Tracker material.** A photon converts before the ECAL with probability
   ``1 - exp(-7/9 X/X0)`` for the tracker's material budget at its eta (0.4 X0 at eta 0 rising to
   1.8 X0 at |eta| 1.5); the e+ e- legs share its energy by the Bethe-Heitler spectrum, bend from
   the conversion radius and shower in the ECAL separately (no track).
3. **ECAL** (PbWO4 crystals, one crystal = one pixel). Photons and electrons deposit their energy,
   smeared with ``sigma/E = S/sqrt(E) (+) C`` (the noise term is applied per crystal, below), spread
   over neighbouring crystals by a core + tail transverse profile (the Moliere radius of PbWO4,
   2.2 cm, is about one crystal: ~75 % of the energy lands in the impact crystal, ~96 % in 3 x 3).
   A hadron crosses ~1.1 interaction lengths of PbWO4: with probability ``exp(-1.13)`` it passes as
   a minimum-ionising particle (MIP) and leaves ``mip_ecal`` in one crystal; otherwise its shower
   starts at an exponentially distributed depth and the ECAL holds the part of its longitudinal
   profile that fits in the remaining depth (the first interaction's pi0s with the electromagnetic
   profile, the rest with the PDG hadronic profile), spread with a wider transverse profile.
   Muons leave a MIP. Every crystal gets Gaussian electronics noise; crystals below the
   zero-suppression threshold read zero.
4. **Non-compensation.** The hadronic part of a shower reads less than an electron of the same
   energy: Groom's ``pi/e = 1 - (1 - h/e) (E/E0)^(m-1)``, with the ECAL at its electron scale
   (e/h = 2.4) and the HCAL calibrated with 50 GeV pions (e/h = 1.4): a 5 GeV hadron reads ~0.8 of
   its energy, a 200 GeV one ~1.0.
5. **HCAL** (towers of 5 x 5 crystals). The rest of a hadron's energy (smeared with the hadronic
   resolution ``100 %/sqrt(E) (+) 5 %``) is shared between the tower hit and its neighbours by a
   Gaussian lateral profile holding 95 % within one interaction length (sigma = 0.435 towers);
   muons leave a MIP. Towers get Gaussian noise and a threshold. In the image each of a tower's 25
   pixels holds tower energy / 25 (end-to-end convention).
6. **Invisible particles** (neutrinos) leave nothing.
7. **The window** (end-to-end convention, ``centre_on_hcal``): the response is simulated on a
   window larger by ``centre_dr`` (in whole towers) on each side and the 125 x 125 image is cut
   around the most energetic HCAL tower within ``dR < centre_dr`` of the jet axis; the shift is a
   whole number of towers (returned by :func:`simulate_window`). Without an HCAL tower there the
   jet axis stays the centre.

Simplifications (documented, deliberate): no bremsstrahlung of electrons in the tracker, no
conversion tracks, one response factor per calorimeter for the whole hadronic deposit (Groom's
pi/e at the hadron's energy), the whole window is treated as barrel, calorimeter deposits of
charged particles sit at the ECAL-surface impact point in both calorimeters; pile-up
(:mod:`gvae.data.pileup`) is in-time only, from vertices at the origin.

Pixel convention (``gvae.geometry``): before the re-centring the jet axis is the centre of pixel
(62, 62); a particle at ``(deta, dphi)`` from the axis lands in pixel ``floor(d / 0.0174 + 62.5)``.
HCAL tower ``t`` covers pixels ``5t .. 5t+4`` of the same window. After the re-centring pixel
(62, 62) is the centre of the hottest tower and the jet axis lies ``-shift`` pixels from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc, ndtr

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
    """Every number of the detector response, with the CMS value it is modelled on and its source.

    Lengths in m unless stated, energies and momenta in GeV, angles in rad, transverse profile
    widths in cells (ECAL crystals or HCAL towers). Values marked "approx." are read off the cited
    figures or quoted to the precision the source gives.
    """

    # --- magnet and geometry ------------------------------------------------------------------
    b_field: float = 3.8
    """Solenoid field in T (CMS: 3.8 T)."""
    r_ecal: float = 1.29
    """Radius of the ECAL barrel front face in m (CMS EB: 1.29 m)."""

    # --- tracker (CMS, JINST 9 (2014) P10009, "Description and performance of track and
    # primary-vertex reconstruction with the CMS tracker") --------------------------------------
    tracker_eta_max: float = 2.5
    """Tracker acceptance |eta| (CMS Phase-0 pixel + strip tracker: 2.5)."""
    track_efficiency: float = 0.94
    """Efficiency to reconstruct a prompt charged hadron or electron with |eta| < ``track_efficiency_eta``
    (JINST 9 P10009, abstract: 94 % for pT > 0.9 GeV, |eta| < 0.9, ttbar events with 2011 pile-up;
    the loss is hadrons that interact in the tracker material)."""
    track_efficiency_eta: float = 0.9
    """|eta| boundary between the two efficiency values (JINST 9 P10009: 0.9)."""
    track_efficiency_forward: float = 0.85
    """Efficiency for 0.9 < |eta| < 2.5 (JINST 9 P10009, abstract: 85 %)."""
    track_efficiency_muon: float = 1.0
    """Efficiency for muons (JINST 9 P10009: "essentially 100 %" for isolated muons)."""
    track_resolution_constant: float = 0.015
    """Constant term of sigma(pT)/pT = a (+) b pT (JINST 9 P10009: "typically 1.5 %" for isolated
    particles with 1 < pT < 10 GeV and |eta| < 1.4; multiple scattering)."""
    track_resolution_slope: float = 2.36e-4
    """Term growing with pT, per GeV, fixed so that sigma(pT)/pT = 2.8 % at 100 GeV
    (JINST 9 P10009: 2.8 % for isolated 100 GeV muons with |eta| < 1.4): sqrt(0.028^2 - 0.015^2) / 100."""

    # --- tracker material: photon conversions before the ECAL --------------------------------
    tracker_x0_central: float = 0.4
    """Tracker material (incl. beam pipe and services) in radiation lengths at eta = 0 (CMS tracker
    material budget, JINST 3 (2008) S08004 fig. 3.37, approx. 0.4 X0)."""
    tracker_x0_peak: float = 1.8
    """Material at its maximum (JINST 3 S08004 fig. 3.37: approx. 1.8 X0 at |eta| ~ 1.5, the barrel-
    endcap transition); linear in |eta| in between, flat beyond."""
    tracker_x0_peak_eta: float = 1.5
    """|eta| of the material maximum (JINST 3 S08004 fig. 3.37)."""
    conversion_r_min: float = 0.04
    conversion_r_max: float = 1.1
    """Conversion radius drawn uniformly in [r_min, r_max] (m): beam pipe / first pixel layer to the
    outer strip barrel (CMS tracker, JINST 3 S08004). The pair probability per photon is
    ``1 - exp(-7/9 X/X0)`` (PDG review "Passage of particles through matter": the high-energy
    photon mean free path is 9/7 X0); the electron takes a fraction x of the photon energy drawn from
    the complete-screening Bethe-Heitler spectrum ``1 - 4/3 x (1 - x)`` (ibid.). The two legs bend
    from the conversion point and shower in the ECAL; they leave no track (CMS general tracking
    needs pixel hits)."""

    # --- ECAL ---------------------------------------------------------------------------------
    ecal_stochastic: float = 0.028
    """Stochastic term S of sigma/E = S/sqrt(E) (+) N/E (+) C (CMS EB test beam, JINST 2 (2007) P04004: 2.8 %)."""
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
    """ECAL depth in nuclear interaction lengths (23 cm of PbWO4, lambda_I = 20.3 cm, PDG). A hadron
    crosses it without showering with probability exp(-1.13) = 0.32."""
    hadron_ecal_sigma: float = 1.2
    """Width of the transverse profile of the hadronic shower part in the ECAL, in crystals."""
    mip_ecal: float = 0.3
    """Energy a minimum-ionising particle leaves in 23 cm of PbWO4 (~10 MeV/cm x 23 cm + rise)."""

    # --- hadron showers: ECAL/HCAL sharing (PDG review "Passage of particles through matter",
    # hadronic showers: longitudinal profile) --------------------------------------------------
    shower_tmax_log: float = 0.2
    shower_tmax_const: float = 0.7
    """Depth of the shower maximum after the first interaction, in lambda_I:
    ``t_max = 0.2 ln(E/GeV) + 0.7`` (PDG)."""
    shower_attenuation_power: float = 0.13
    """Attenuation length of the shower tail ``lambda_att = lambda_I (E/GeV)^0.13`` (PDG). The
    longitudinal profile after the first interaction is a Gamma law with mode ``t_max`` and scale
    ``lambda_att``; a hadron that interacts at depth x (exponential, truncated to the ECAL) leaves in
    the ECAL the fraction of that profile contained in the remaining ``1.13 - x`` lambda_I."""
    first_interaction_pi0_fraction: float = 1.0 / 3.0
    """Energy fraction of the first hadronic interaction carried by pi0s (isospin: one pion in
    three is neutral; PDG "Passage of particles through matter", hadronic showers). Their photons
    shower electromagnetically from the interaction point: in PbWO4 (lambda_I / X0 = 20.3 / 0.89 =
    22.8) they are contained in the ECAL unless the hadron interacts near its back face. The rest of
    the shower follows the hadronic profile above."""
    ecal_x0_per_lambda: float = 22.8
    """Radiation lengths per interaction length in PbWO4 (PDG: X0 = 0.89 cm, lambda_I = 20.3 cm)."""
    ecal_critical_energy: float = 0.0093
    """Critical energy of PbWO4 in GeV (PDG: 9.3 MeV). The electromagnetic longitudinal profile is a
    Gamma law in t = depth / X0 with ``b = 0.5`` and maximum at ``t_max = ln(E / E_c) - 0.5``
    (PDG photon showers)."""

    # --- hadron response: non-compensation (Groom, NIM A 572 (2007) 633; PDG review
    # "Calorimetry": pi/e = 1 - (1 - h/e) (E/E0)^(m-1)) ---------------------------------------
    groom_e0: float = 1.0
    """E0 in GeV of the hadronic fraction ``(E/E0)^(m-1)`` of a pion shower (PDG "Calorimetry": ~1 GeV)."""
    groom_m: float = 0.83
    """Exponent m (PDG "Calorimetry", after Groom: m ~ 0.83 for pion showers)."""
    ecal_e_over_h: float = 2.4
    """e/h of the PbWO4 ECAL (approx.; CMS barrel calorimeter test beam, EPJC 60 (2009) 359, where
    the ECAL is the strongly non-compensating part). The ECAL is calibrated with electrons, so its
    hadron response is pi/e itself."""
    hcal_e_over_h: float = 1.4
    """e/h of the brass/scintillator HB (approx.; CMS HB test beam, EPJC 60 (2009) 359 and the
    CMS HCAL TDR, CERN/LHCC 97-31)."""
    hcal_calibration_energy: float = 50.0
    """The HB energy scale reads 1 for pions of this energy (GeV) that cross the ECAL as a MIP
    (EPJC 60 (2009) 359: HB calibrated with 50 GeV pions); its hadron response is
    pi/e(E) / pi/e(50 GeV) and its response to electrons would be 1 / pi/e(50 GeV)."""

    # --- HCAL ---------------------------------------------------------------------------------
    hcal_stochastic: float = 1.0
    """Stochastic term of the hadronic resolution (CMS HB + EB: ~100 %/sqrt(E); EPJC 60 (2009) 359
    finds 84.7 %/sqrt(E) (+) 7.4 % after its response corrections)."""
    hcal_constant: float = 0.05
    """Constant term of the hadronic resolution (CMS: ~5 %)."""
    hcal_tower_noise: float = 0.25
    """Gaussian noise per HCAL tower in GeV (CMS HB: ~0.2-0.3 GeV per tower)."""
    hcal_threshold: float = 0.8
    """Towers below this energy read zero (CMS HB rechit threshold for particle flow: ~0.8 GeV)."""
    hcal_lambda_i_cm: float = 16.4
    """Nuclear interaction length of the HB brass absorber, cm (PDG: brass ~16.4 cm)."""
    hcal_tower_cm: float = 15.4
    """Transverse size of one HB tower at its front face, cm (inner radius 1.77 m x 0.087)."""
    hcal_containment_95: float = 1.0
    """95 % of a hadron shower's energy lies within this many lambda_I of its axis (PDG "Passage of
    particles through matter": "95 % ... within a cylinder of radius lambda_I"). The lateral profile
    is a 2-D Gaussian, so its width in towers is :attr:`hcal_sigma`."""
    mip_hcal: float = 2.0
    """Energy a muon leaves in the brass/scintillator HCAL (CMS HB: ~2 GeV)."""

    # --- end-to-end image conventions -----------------------------------------------------------
    centre_on_hcal: bool = True
    """Centre the 125 x 125 window on the most energetic HCAL tower within ``centre_dr`` of the jet
    axis, as the CMS end-to-end datasets centre their jet images on the jet's hottest HCAL tower
    (Andrews et al., NIM A 977 (2020) 164304; EPJ Web Conf. 251 (2021) 04030). The shift is a whole
    number of towers, so tower boundaries stay on 5-pixel blocks. Off: the jet axis is the centre."""
    centre_dr: float = 0.4
    """Search radius around the jet axis for the centring tower (our choice: the core of the
    R = 0.8 jet, so that the window still holds the whole jet)."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"DetectorConfig.{name} must be a finite number >= 0, got {value!r}")
        for name in ("track_efficiency", "track_efficiency_forward", "track_efficiency_muon", "em_tail_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"DetectorConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.groom_m <= 1.0:
            raise ConfigError(f"DetectorConfig.groom_m must be in (0, 1], got {self.groom_m}")
        if not self.conversion_r_min <= self.conversion_r_max < self.r_ecal:
            raise ConfigError("DetectorConfig.conversion_r_min <= conversion_r_max < r_ecal must hold")
        for name in ("b_field", "r_ecal", "em_core_sigma", "em_tail_sigma", "hadron_ecal_sigma", "hcal_lambda_i_cm",
                     "hcal_tower_cm", "hcal_containment_95", "groom_e0", "ecal_e_over_h", "hcal_e_over_h",
                     "hcal_calibration_energy", "tracker_x0_peak_eta"):
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

    @property
    def hcal_sigma(self) -> float:
        """Width of the lateral hadronic shower profile in HCAL towers, from the documented 95 %
        containment radius: a 2-D Gaussian holds 95 % within ``sigma sqrt(2 ln 20)``, so
        ``sigma = 1.0 lambda_I / sqrt(2 ln 20) = 16.4 cm / 2.448 = 6.7 cm = 0.435 towers``."""
        return self.hcal_containment_95 * self.hcal_lambda_i_cm / math.sqrt(2.0 * math.log(20.0)) / self.hcal_tower_cm

    def pi_over_e(self, energy: np.ndarray | float, e_over_h: float) -> np.ndarray:
        """Groom's pion-to-electron response ratio ``1 - (1 - h/e) f_h`` with the hadronic fraction
        ``f_h = (E/E0)^(m-1)``, capped at 1 (below E0 the shower is all hadronic)."""
        e = np.maximum(np.asarray(energy, dtype=np.float64), 1e-9)
        f_h = np.minimum((e / self.groom_e0) ** (self.groom_m - 1.0), 1.0)
        return 1.0 - (1.0 - 1.0 / e_over_h) * f_h

    def ecal_hadron_response(self, energy: np.ndarray | float) -> np.ndarray:
        """Signal / deposited energy of the hadronic showers of hadrons of ``energy`` in the ECAL
        (electron-calibrated): ``pi/e(E)`` with the ECAL e/h."""
        return self.pi_over_e(energy, self.ecal_e_over_h)

    def hcal_hadron_response(self, energy: np.ndarray | float) -> np.ndarray:
        """Signal / deposited energy in the HCAL (pion-calibrated at ``hcal_calibration_energy``)."""
        return (self.pi_over_e(energy, self.hcal_e_over_h)
                / self.pi_over_e(self.hcal_calibration_energy, self.hcal_e_over_h))

    def tracker_x0(self, eta: np.ndarray | float) -> np.ndarray:
        """Tracker material in radiation lengths along a straight line at ``eta``."""
        a = np.minimum(np.abs(np.asarray(eta, dtype=np.float64)) / self.tracker_x0_peak_eta, 1.0)
        return self.tracker_x0_central + (self.tracker_x0_peak - self.tracker_x0_central) * a

    def conversion_probability(self, eta: np.ndarray | float) -> np.ndarray:
        """Probability that a photon converts before the ECAL: ``1 - exp(-7/9 X/X0)``."""
        return 1.0 - np.exp(-7.0 / 9.0 * self.tracker_x0(eta))

    def track_efficiency_at(self, eta: np.ndarray, abs_pid: np.ndarray) -> np.ndarray:
        """Track-finding efficiency per particle (float64 ``[n]``) from |eta| and the particle type."""
        eff = np.where(np.abs(eta) < self.track_efficiency_eta, self.track_efficiency, self.track_efficiency_forward)
        return np.where(abs_pid == MUON_ID, self.track_efficiency_muon, eff)

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
    rel = np.broadcast_to(rel_sigma, energy.shape)[ok]
    shape = 1.0 / np.square(np.maximum(rel, 1e-6))
    out[ok] = np.where(rel > 0, rng.gamma(shape, energy[ok] / shape), energy[ok])
    return out


def ecal_shower_fraction(energy: np.ndarray, start_depth: np.ndarray, config: DetectorConfig) -> np.ndarray:
    """Fraction of a hadron shower of ``energy`` (GeV) that started at ``start_depth`` (lambda_I, from
    the ECAL front) deposited in the ECAL: the first interaction's pi0 fraction with the
    electromagnetic profile, the rest with the hadronic Gamma profile (mode ``t_max``, scale
    ``lambda_att``), each integrated over the remaining ECAL depth (:class:`DetectorConfig`).
    ``[n]`` -> ``[n]``."""
    e = np.maximum(np.asarray(energy, dtype=np.float64), 1e-3)
    t_max = np.maximum(config.shower_tmax_log * np.log(e) + config.shower_tmax_const, 0.05)
    scale = e ** config.shower_attenuation_power
    shape = 1.0 + t_max / scale
    remaining = np.clip(config.ecal_interaction_lengths - np.asarray(start_depth, dtype=np.float64), 0.0, None)
    hadronic = gammainc(shape, remaining / scale)
    # the first interaction's pi0s: electromagnetic profile over the remaining depth in X0
    b_em = 0.5
    e_pi0 = np.maximum(config.first_interaction_pi0_fraction * e, 2.0 * config.ecal_critical_energy)
    a_em = 1.0 + b_em * np.maximum(np.log(e_pi0 / config.ecal_critical_energy) - 0.5, 0.0)
    em = gammainc(a_em, b_em * remaining * config.ecal_x0_per_lambda)
    f = config.first_interaction_pi0_fraction
    return f * em + (1.0 - f) * hadronic


def _bethe_heitler_fraction(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` energy fractions of the electron of a converted photon, density ``1 - 4/3 x (1 - x)``
    on [0, 1] (complete screening), by rejection (acceptance >= 2/3 per draw)."""
    out = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        x = rng.random(len(todo))
        ok = rng.random(len(todo)) < 1.0 - 4.0 / 3.0 * x * (1.0 - x)
        out[todo[ok]] = x[ok]
        todo = todo[~ok]
    return out


def _margin_pixels(config: DetectorConfig) -> int:
    """Pixels simulated on each side of the 125 x 125 window so that it can be re-centred on any
    tower within ``centre_dr`` (a whole number of towers)."""
    if not config.centre_on_hcal:
        return 0
    return _TOWER * int(math.ceil(config.centre_dr / (_TOWER * geometry.PIXEL_SIZE)))


def simulate(particles: Particles, rng: np.random.Generator,
             config: DetectorConfig = DetectorConfig(), jet_eta: float = 0.0) -> np.ndarray:
    """Detector response of one jet: :func:`simulate_window` without the window shift."""
    return simulate_window(particles, rng, config, jet_eta)[0]


def simulate_window(particles: Particles, rng: np.random.Generator, config: DetectorConfig = DetectorConfig(),
                    jet_eta: float = 0.0) -> tuple[np.ndarray, tuple[int, int]]:
    """Detector response of one jet.

    particles: the final-state particles of the event (any number, pile-up included; those outside
        the simulated area after bending are lost), positions relative to the jet axis.
    rng: the only source of randomness (draw order is fixed, so the same generator state gives
        the same image).
    config: the detector numbers.
    jet_eta: pseudorapidity of the jet axis (tracker acceptance and efficiency, photon conversions).
    Returns (image float32 ``[3, 125, 125]``: track pT, ECAL energy, HCAL energy (tower / 25 per
    pixel), GeV; ``(shift_eta, shift_phi)``: the window centre in pixels from the jet axis, a
    multiple of 5 when centred on the hottest HCAL tower, ``(0, 0)`` otherwise).
    """
    margin = _margin_pixels(config)
    size = _SIZE + 2 * margin
    towers = size // _TOWER
    centre = geometry.CENTRE_PIXEL + margin  # the jet axis, in pixels of the simulated area
    apid_all = np.abs(particles.pid)
    visible = ~np.isin(apid_all, INVISIBLE_IDS)
    shift, reaches = bend_to_ecal(particles.pt, particles.charge, config)
    keep = visible & reaches & (particles.energy > 0)
    apid = apid_all[keep]
    charge = particles.charge[keep]
    pt = particles.pt[keep]
    energy = particles.energy[keep]
    deta = particles.deta[keep]
    eta_abs = jet_eta + deta
    # fractional pixel coordinates of the ECAL impact point (centre of pixel `centre` = jet axis)
    ue = deta / geometry.PIXEL_SIZE + centre
    up = wrap_phi(particles.dphi[keep] + shift[keep]) / geometry.PIXEL_SIZE + centre

    is_em = np.isin(apid, EM_IDS)
    is_mu = apid == MUON_ID
    is_had = ~is_em & ~is_mu
    charged = charge != 0

    # --- tracks: efficiency from |eta| and particle type, resolution a (+) b pT ---
    track_grid = np.zeros((size, size))
    in_tracker = charged & (np.abs(eta_abs) < config.tracker_eta_max)
    found = rng.random(len(pt)) < config.track_efficiency_at(eta_abs, apid)
    is_track = in_tracker & found
    rel = np.hypot(config.track_resolution_constant, config.track_resolution_slope * pt[is_track])
    track_pt = np.clip(pt[is_track] * (1.0 + rel * rng.standard_normal(int(is_track.sum()))), 0.0, None)
    _single_cell(track_grid, ue[is_track], up[is_track], track_pt)

    # --- photon conversions in the tracker material: e+ e- legs bending from the conversion radius ---
    is_photon = apid == 22
    em_ue, em_up, em_e = ue[is_em & ~is_photon], up[is_em & ~is_photon], energy[is_em & ~is_photon]
    ph_ue, ph_up, ph_e, ph_pt = ue[is_photon], up[is_photon], energy[is_photon], pt[is_photon]
    converts = rng.random(len(ph_e)) < config.conversion_probability(eta_abs[is_photon])
    n_conv = int(converts.sum())
    radius = rng.uniform(config.conversion_r_min, config.conversion_r_max, n_conv)
    x = _bethe_heitler_fraction(rng, n_conv)
    legs_e, legs_ue, legs_up = [ph_e[~converts]], [ph_ue[~converts]], [ph_up[~converts]]
    for q, frac in ((-1.0, x), (1.0, 1.0 - x)):
        leg_pt = frac * ph_pt[converts]
        ratio = np.divide(0.3 * config.b_field * (config.r_ecal - radius), 2.0 * leg_pt,
                          out=np.full(n_conv, np.inf), where=leg_pt > 0)
        arrives = ratio < 1.0
        dphi = -q * np.arcsin(np.minimum(ratio, 1.0)) * (config.r_ecal - radius) / config.r_ecal
        legs_e.append(frac[arrives] * ph_e[converts][arrives])
        legs_ue.append(ph_ue[converts][arrives])
        legs_up.append(ph_up[converts][arrives] + dphi[arrives] / geometry.PIXEL_SIZE)
    em_ue = np.concatenate([em_ue, *legs_ue])
    em_up = np.concatenate([em_up, *legs_up])
    em_e = np.concatenate([em_e, *legs_e])

    # --- ECAL: electromagnetic showers ---
    ecal_grid = np.zeros((size, size))
    rel_em = np.hypot(config.ecal_stochastic / np.sqrt(np.maximum(em_e, 1e-9)), config.ecal_constant)
    em_e = np.clip(em_e * (1.0 + rel_em * rng.standard_normal(len(em_e))), 0.0, None)
    _spread(ecal_grid, em_ue, em_up, em_e,
            ((1.0 - config.em_tail_fraction, config.em_core_sigma), (config.em_tail_fraction, config.em_tail_sigma)),
            half=2)

    # --- hadrons: smeared energy, first interaction in the ECAL or not, longitudinal sharing,
    # non-compensating response of each calorimeter ---
    e_true = energy[is_had]
    rel_had = np.hypot(config.hcal_stochastic / np.sqrt(e_true), config.hcal_constant)
    e_had = _gamma_smear(rng, e_true, rel_had)
    p_interact = 1.0 - math.exp(-config.ecal_interaction_lengths)
    u = rng.random(len(e_had))
    showers_in_ecal = u < p_interact
    start_depth = -np.log1p(-np.minimum(u, p_interact))  # exponential depth, truncated to the ECAL
    frac = np.where(showers_in_ecal, ecal_shower_fraction(e_true, start_depth, config), 0.0)
    dep_ecal = np.where(showers_in_ecal, frac * e_had, np.minimum(config.mip_ecal, e_had))
    dep_hcal = e_had - dep_ecal
    e_had_ecal = np.where(showers_in_ecal, config.ecal_hadron_response(e_true) * dep_ecal, dep_ecal)
    e_had_hcal = config.hcal_hadron_response(e_true) * dep_hcal
    ue_h, up_h = ue[is_had], up[is_had]
    _spread(ecal_grid, ue_h[showers_in_ecal], up_h[showers_in_ecal], e_had_ecal[showers_in_ecal],
            ((1.0, config.hadron_ecal_sigma),), half=3)
    _single_cell(ecal_grid, ue_h[~showers_in_ecal], up_h[~showers_in_ecal], e_had_ecal[~showers_in_ecal])

    # --- muons: minimum-ionising deposits ---
    _single_cell(ecal_grid, ue[is_mu], up[is_mu], np.minimum(config.mip_ecal, energy[is_mu]))

    # --- HCAL towers (fractional tower coordinates: tower t is centred on pixel 5t + 2) ---
    tower_grid = np.zeros((towers, towers))
    te = (ue_h - (_TOWER // 2)) / _TOWER
    tp = (up_h - (_TOWER // 2)) / _TOWER
    _spread(tower_grid, te, tp, e_had_hcal, ((1.0, config.hcal_sigma),), half=2)
    e_mu_hcal = np.clip(energy[is_mu] - config.mip_ecal, 0.0, config.mip_hcal)
    _single_cell(tower_grid, (ue[is_mu] - 2) / _TOWER, (up[is_mu] - 2) / _TOWER, e_mu_hcal)

    # --- noise and zero suppression ---
    ecal_grid += config.ecal_crystal_noise * rng.standard_normal(ecal_grid.shape)
    ecal_grid[ecal_grid < config.ecal_threshold] = 0.0
    tower_grid += config.hcal_tower_noise * rng.standard_normal(tower_grid.shape)
    tower_grid[tower_grid < config.hcal_threshold] = 0.0

    # --- the window: centred on the hottest HCAL tower within centre_dr of the jet axis ---
    se = sp = 0
    if config.centre_on_hcal:
        offsets = (np.arange(towers) * _TOWER + _TOWER // 2 - centre) * geometry.PIXEL_SIZE
        near = np.hypot(offsets[:, None], offsets[None, :]) < config.centre_dr
        candidates = np.where(near, tower_grid, -1.0)
        best = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
        if candidates[best] > 0:
            se = int(best[0]) * _TOWER + _TOWER // 2 - centre
            sp = int(best[1]) * _TOWER + _TOWER // 2 - centre
    rows = slice(margin + se, margin + se + _SIZE)
    cols = slice(margin + sp, margin + sp + _SIZE)
    trows = slice((margin + se) // _TOWER, (margin + se) // _TOWER + _TOWERS)
    tcols = slice((margin + sp) // _TOWER, (margin + sp) // _TOWER + _TOWERS)

    image = np.empty((geometry.N_CHANNELS, _SIZE, _SIZE), dtype=np.float32)
    image[geometry.TRACK] = track_grid[rows, cols]
    image[geometry.ECAL] = ecal_grid[rows, cols]
    image[geometry.HCAL] = towers_to_pixels(tower_grid[trows, tcols])
    return image, (se, sp)
