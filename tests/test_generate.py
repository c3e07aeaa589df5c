"""The Pythia 8 + FastJet + detector generator: determinism and the physics a physicist would check.

The physics checks run on ``physics_jets`` (240 mixed jets: 120 ttbar, 120 QCD, cached on disk).
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from fixtures_data import GENERATED_SEED
from gvae import geometry, io
from gvae.errors import ConfigError
from gvae.data.generate import (BLOCK_SIZE, PROCESSES, _interleave, _plan, add_arguments, generate_jets, main,
                                pileup_from_args, pythia_settings)
from gvae.jets import JetBatch

TOP_MASS = 172.5


def _split(batch: JetBatch) -> tuple[np.ndarray, np.ndarray]:
    return batch.y == 1, batch.y == 0


def _hits(batch: JetBatch) -> np.ndarray:
    """Hits per jet ``[n, 3]``: nonzero track and ECAL pixels, nonzero HCAL towers."""
    counts = (batch.images > 0).sum(axis=(2, 3)).astype(np.int64)
    counts[:, geometry.HCAL] //= geometry.HCAL_TOWER_PIXELS ** 2
    return counts


def test_batch_layout_and_labels(physics_jets: JetBatch):
    b = physics_jets
    assert len(b) == 240 and b.images.shape == (240, 3, 125, 125) and b.images.dtype == np.float32
    np.testing.assert_array_equal(b.y[0::2], 1.0)  # mixed: even rows ttbar
    np.testing.assert_array_equal(b.y[1::2], 0.0)  # odd rows QCD
    assert np.all(np.isfinite(b.images)) and np.all(b.images >= 0)


def test_jet_selection_cuts(physics_jets: JetBatch):
    b = physics_jets
    assert np.all(b.pt > 400.0)
    assert np.all(np.abs(b.eta) < 1.4)
    assert np.all((b.phi >= -np.pi) & (b.phi <= np.pi))
    # ieta/iphi: crystal indices of the window centre, a whole number of HCAL towers (5 crystals)
    # from the jet axis (the hottest HCAL tower within dR < 0.4 of it; DetectorConfig.centre_dr)
    for index, axis in ((b.ieta, b.eta), (b.iphi, b.phi)):
        shift = index - np.round(axis / geometry.PIXEL_SIZE).astype(np.int32)
        assert np.all(shift % geometry.HCAL_TOWER_PIXELS == 0)
        assert np.all(np.abs(shift) <= 20)  # 4 towers = 0.35 < 0.4


def test_top_mass_peak_and_lighter_qcd(physics_jets: JetBatch):
    top, qcd = _split(physics_jets)
    m_top, m_qcd = physics_jets.m0[top], physics_jets.m0[qcd]
    # fully merged hadronic tops: the mass distribution peaks at the top mass
    assert 140.0 < np.median(m_top) < 200.0
    assert np.mean(np.abs(m_top - TOP_MASS) < 30.0) > 0.5
    hist, edges = np.histogram(m_top, bins=np.arange(0.0, 320.0, 20.0))
    assert 140.0 <= edges[np.argmax(hist)] < 200.0
    # QCD jets are much lighter (Sudakov-suppressed masses, median ~ 0.1-0.2 pT)
    assert np.median(m_qcd) < np.median(m_top) - 50.0
    assert np.mean(m_qcd < 120.0) > 0.6


def test_hit_counts_per_channel_are_plausible(physics_jets: JetBatch):
    hits = _hits(physics_jets)
    track, ecal, hcal = hits.mean(axis=0)
    assert 10 < track < 80  # charged particles above 0.74 GeV in the window
    assert 100 < ecal < 600  # photons from pi0s spread over crystals, hadronic early showers
    assert 10 < hcal < 100  # HCAL towers
    assert np.all(hits[:, geometry.TRACK] > 0) and np.all(hits[:, geometry.ECAL] > 0)
    top, qcd = _split(physics_jets)
    assert hits[top].sum(axis=1).mean() > hits[qcd].sum(axis=1).mean()  # three prongs, more particles


def test_calorimeter_energy_matches_the_jet_energy(physics_jets: JetBatch):
    b = physics_jets
    calo = b.images[:, geometry.ECAL:].sum(axis=(1, 2, 3), dtype=np.float64)
    jet_energy = b.pt.astype(np.float64) * np.cosh(b.eta.astype(np.float64))
    ratio = calo / jet_energy
    # the window holds the jet (R = 0.8 < half-width 1.09) plus underlying event, minus neutrinos
    # and curled-up soft tracks; the calorimeters are calibrated
    assert 0.85 < np.median(ratio) < 1.2
    assert np.mean((ratio > 0.8) & (ratio < 1.5)) > 0.9
    # never much less than the jet; more only when a second hard jet falls in the window
    assert np.all((ratio > 0.5) & (ratio < 3.0))
    track_pt = b.images[:, geometry.TRACK].sum(axis=(1, 2), dtype=np.float64)
    # charged fraction of the jet pT ~ 60 %
    assert 0.3 < np.median(track_pt / b.pt) < 0.9


def test_hcal_blocks_uniform_and_thresholds(physics_jets: JetBatch):
    hcal = physics_jets.images[:, geometry.HCAL].reshape(-1, 25, 5, 25, 5)
    assert np.array_equal(hcal, np.broadcast_to(hcal[:, :, :1, :, :1], hcal.shape))
    towers = hcal[:, :, 0, :, 0] * 25
    from gvae.data.detector import DetectorConfig
    config = DetectorConfig()
    assert np.all((towers == 0) | (towers >= config.hcal_threshold * (1 - 1e-6)))
    ecal = physics_jets.images[:, geometry.ECAL]
    assert np.all((ecal == 0) | (ecal >= config.ecal_threshold))


def test_same_seed_same_jets_for_any_worker_count(physics_jets: JetBatch):
    # physics_jets was made (or cached) with one worker; a fresh, shorter run with two workers
    # must give exactly its first jets
    n = 2 * BLOCK_SIZE + 4
    fresh = generate_jets("mixed", n, GENERATED_SEED, workers=2, progress=False)
    np.testing.assert_array_equal(fresh.images, physics_jets.images[:n])
    for name, values in fresh.scalars().items():
        np.testing.assert_array_equal(values, getattr(physics_jets, name)[:n], err_msg=name)


def test_different_seed_different_jets(physics_jets: JetBatch):
    other = generate_jets("mixed", 4, GENERATED_SEED + 1, workers=1, progress=False)
    assert not np.array_equal(other.images, physics_jets.images[:4])
    assert not np.array_equal(other.pt, physics_jets.pt[:4])


def test_cli_writes_a_file_of_the_same_jets(physics_jets: JetBatch, tmp_path):
    out = tmp_path / "jets.h5"
    assert main(["--process", "mixed", "--jets", "12", "--seed", str(GENERATED_SEED), "--out", str(out),
                 "--workers", "1", "--chunk-size", "5", "--no-progress"]) == 0
    back = io.read_jets(out)
    assert len(back) == 12
    np.testing.assert_array_equal(back.images, physics_jets.images[:12])
    np.testing.assert_array_equal(back.m0, physics_jets.m0[:12])
    np.testing.assert_array_equal(back.y, physics_jets.y[:12])


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--process", "--jets", "--seed", "--out", "--workers", "--chunk-size", "--no-progress", "--pileup",
                 "--pileup-library-events", "--pileup-cache", "--no-centre"):
        assert flag in text
    parser = argparse.ArgumentParser()
    add_arguments(parser)  # the hook python -m gvae.data generate uses
    args = parser.parse_args(["--process", "qcd", "--jets", "3", "--seed", "1", "--out", "x.parquet"])
    assert (args.process, args.jets, args.seed, args.workers, args.chunk_size) == ("qcd", 3, 1, None, 256)
    assert (args.pileup, args.no_centre) == (20.0, False)  # pile-up and the end-to-end centring by default
    pileup = pileup_from_args(parser.parse_args(["--process", "qcd", "--jets", "3", "--seed", "1", "--out", "x.h5",
                                                 "--pileup", "35", "--pileup-library-events", "100"]))
    assert pileup.mu == 35.0 and pileup.library.n_events == 100
    for bad in (["--pileup", "-1"], ["--pileup", "nan"], ["--pileup-library-events", "0"]):
        with pytest.raises(ConfigError):
            pileup_from_args(parser.parse_args(["--process", "qcd", "--jets", "3", "--seed", "1", "--out", "x.h5", *bad]))


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="process"):
        generate_jets("higgs", 1, 0)
    with pytest.raises(ConfigError, match="n_jets"):
        generate_jets("qcd", -1, 0)
    with pytest.raises(ConfigError, match="workers"):
        generate_jets("qcd", 1, 0, workers=0)
    with pytest.raises(ConfigError, match="seed"):
        generate_jets("qcd", 1, -5)
    with pytest.raises(ConfigError):
        pythia_settings("mixed", 1)
    assert len(generate_jets("qcd", 0, 0, workers=1, progress=False)) == 0


def test_work_plan_and_interleaving():
    assert set(PROCESSES) == {"ttbar", "qcd", "mixed"}
    plan = _plan("mixed", 2 * BLOCK_SIZE + 3)  # 18 ttbar + 17 qcd with BLOCK_SIZE 16
    assert [(p, b) for p, b, _ in plan] == [("ttbar", 0), ("qcd", 0), ("ttbar", 1), ("qcd", 1)]
    assert sum(n for _, _, n in plan) == 2 * BLOCK_SIZE + 3
    assert [n for p, _, n in plan if p == "ttbar"] == [BLOCK_SIZE, 2]
    assert [n for p, _, n in plan if p == "qcd"] == [BLOCK_SIZE, 1]

    def batch(n: int, value: float) -> JetBatch:
        return JetBatch(np.zeros((n, 3, 125, 125), np.float32), pt=np.arange(n) + value,
                        m0=np.zeros(n), y=np.full(n, value))

    mixed = _interleave(batch(3, 1.0), batch(2, 0.0))
    assert mixed.y.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert mixed.pt.tolist() == [1.0, 0.0, 2.0, 1.0, 3.0]


@pytest.mark.parametrize("ext", [".parquet", ".h5", ".root", ".gvh"])
def test_generated_file_factory_writes_every_format(generated_file_factory, generated_jets: JetBatch, ext: str):
    path = generated_file_factory(ext)
    assert path.suffix == ext and path is generated_file_factory(ext)  # written once per session
    assert io.count_jets(path) == len(generated_jets) == 120
    back = io.read_jets(path)
    np.testing.assert_array_equal(back.y, generated_jets.y)
    np.testing.assert_array_equal(back.m0, generated_jets.m0)
    # hit formats store HCAL per tower: equal to float32 rounding
    np.testing.assert_allclose(back.images, generated_jets.images, rtol=1e-6, atol=1e-6)
