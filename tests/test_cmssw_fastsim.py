"""The fast-simulation path of the CMSSW-like example (cmssw_example/, ``process.path = simulation``):
GenJetSource -> GvaeFastSimProducer (gvae::Simulator in a GlobalCache) -> GvhSimOutputModule, built
against the installed gvae package, run on a contract v2 latent-decoder export and compared with the
Python bindings (``gvae._core.Simulator``) on the same jets and seeds.

Tolerance: none. gvaeRun and the bindings run the same C++ code on the same batches with the same
per-jet seeds, so every hit (channel, cell, float32 energy) must be identical; m0 within 1e-4 relative
+ 1e-3 GeV (float32 storage of a float64 mass; a one-hit jet's mass is a rounding residue). Different numbers of streams give byte-identical files.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gvae.io

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "cmssw_example"
CONFIG = EXAMPLE / "GvaeProducer" / "test" / "gvaeReco_cfg.txt"
sys.path.insert(0, str(EXAMPLE / "GvaeProducer" / "python"))
from compare_simulation import compare, read_gen_jets  # noqa: E402

pytestmark = pytest.mark.slow  # builds the example once (~1 min on 2 cores) and trains a tiny model


@pytest.fixture(scope="session")
def sim_model(latent_exported) -> Path:
    return Path(latent_exported["aoti"])


@pytest.fixture(scope="session")
def conditions_csv(tmp_path_factory: pytest.TempPathFactory, latent_exported) -> Path:
    """25 generator jets, both types, pT inside the model's trained range, some without eta/phi."""
    from gvae import _core

    contract = _core.Model.load(str(latent_exported["aoti"]), "cpu").contract
    ranges = {int(t["index"]): (float(t["pt_min"]), float(t["pt_max"])) for t in contract["conditions"]["types"]}
    rng = np.random.default_rng(5)
    path = tmp_path_factory.mktemp("fastsim_conditions") / "conditions.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["type", "pt", "eta", "phi"])
        for i in range(25):
            label = 1 if i % 2 == 0 else 0
            lo, hi = ranges[label]
            pt = lo + (hi - lo) * rng.uniform(0.05, 0.95)
            eta, phi = (("", "") if i % 5 == 3 else (f"{rng.uniform(-2, 2):.4f}", f"{rng.uniform(-3, 3):.4f}"))
            w.writerow(["ttbar" if label == 1 else "qcd", f"{pt:.3f}", eta, phi])
    return path


def run(build: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(build / "gvaeRun"), str(CONFIG), "process.path=simulation", *overrides],
                          capture_output=True, text=True, timeout=600)


def test_simulation_equals_bindings_bit_for_bit(cmssw_build: Path, sim_model: Path, conditions_csv: Path,
                                                tmp_path: Path) -> None:
    out = tmp_path / "sim.gvh"
    result = run(cmssw_build, f"genJets.fileName={conditions_csv}", f"gvaeFastSim.modelPath={sim_model}",
                 "gvaeFastSim.seed=7", "genJets.jetsPerEvent=2", "gvaeFastSim.batchSize=3",
                 "process.numberOfStreams=3", f"simOut.fileName={out}", f"process.timingReport={tmp_path / 't.json'}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TimeReport events 13, streams 3" in result.stdout and "events/s" in result.stdout
    timing = json.loads((tmp_path / "t.json").read_text())
    assert timing["events"] == 13 and timing["events_per_second"] > 0
    assert [m["label"] for m in timing["modules"]] == ["genJets", "gvaeFastSim", "simOut"]

    cmp = compare(conditions_csv, sim_model, out, batch_size=3, seed=7, jets_per_event=2)
    assert cmp.ok, cmp.problems
    assert cmp.jets == 25 and cmp.identical_jets == 25 and cmp.hits > 0
    # in input order (gvaeFastSim.sortByCount=false) the file is byte-identical
    unsorted = tmp_path / "sim_unsorted.gvh"
    result = run(cmssw_build, f"genJets.fileName={conditions_csv}", f"gvaeFastSim.modelPath={sim_model}",
                 "gvaeFastSim.seed=7", "genJets.jetsPerEvent=2", "gvaeFastSim.batchSize=3",
                 "gvaeFastSim.sortByCount=false", f"simOut.fileName={unsorted}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert unsorted.read_bytes() == out.read_bytes()

    jets = gvae.io.read_jets(out)  # an ordinary jet file
    gen = read_gen_jets(conditions_csv)
    np.testing.assert_array_equal(jets.y, gen.jet_type.astype(np.float32))
    np.testing.assert_array_equal(jets.pt, gen.pt.astype(np.float32))
    inspect = subprocess.run([sys.executable, "-m", "gvae.data", "inspect", str(out), "--no-progress"],
                             capture_output=True, text=True)
    assert inspect.returncode == 0, inspect.stderr


def test_streams_do_not_change_the_simulation(cmssw_build: Path, sim_model: Path, conditions_csv: Path,
                                              tmp_path: Path) -> None:
    files = []
    for streams in (1, 4):
        out = tmp_path / f"sim{streams}.gvh"
        result = run(cmssw_build, f"genJets.fileName={conditions_csv}", f"gvaeFastSim.modelPath={sim_model}",
                     f"process.numberOfStreams={streams}", "process.maxEventsInFlight=2", f"simOut.fileName={out}")
        assert result.returncode == 0, result.stdout + result.stderr
        files.append(out.read_bytes())
    assert files[0] == files[1]
    # another seed simulates other jets
    other = tmp_path / "other.gvh"
    assert run(cmssw_build, f"genJets.fileName={conditions_csv}", f"gvaeFastSim.modelPath={sim_model}",
               "gvaeFastSim.seed=8", f"simOut.fileName={other}").returncode == 0
    assert other.read_bytes() != files[0]


def test_stream_noise_runs_and_keeps_the_jets(cmssw_build: Path, sim_model: Path, conditions_csv: Path,
                                              tmp_path: Path) -> None:
    """noise = stream (a generator per stream): every jet written once, in order, with its conditions."""
    out = tmp_path / "sim.gvh"
    result = run(cmssw_build, f"genJets.fileName={conditions_csv}", f"gvaeFastSim.modelPath={sim_model}",
                 "gvaeFastSim.noise=stream", "process.numberOfStreams=2", f"simOut.fileName={out}")
    assert result.returncode == 0, result.stdout + result.stderr
    written, gen = gvae.io.read_jets(out), read_gen_jets(conditions_csv)
    np.testing.assert_array_equal(written.y, gen.jet_type.astype(np.float32))
    np.testing.assert_array_equal(written.pt, gen.pt.astype(np.float32))


def test_errors_name_the_module(cmssw_build: Path, sim_model: Path, exported_torchscript, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("type,pt\nqcd,500\nttbar,1e9\n")  # far outside any trained pT range
    result = run(cmssw_build, f"genJets.fileName={bad}", f"gvaeFastSim.modelPath={sim_model}",
                 "process.numberOfStreams=1", f"simOut.fileName={tmp_path / 'x.gvh'}")
    assert result.returncode == 3, result.stderr
    line = [x for x in result.stderr.splitlines() if x.startswith("gvaeRun: error [")]
    assert len(line) == 1 and line[0].startswith("gvaeRun: error [InvalidInput]"), result.stderr
    assert "[while running module 'gvaeFastSim' (GvaeFastSimProducer) on event 1 (index 1, stream 0)]" in line[0]
    assert not (tmp_path / "x.gvh").exists()

    paper = exported_torchscript["torchscript"]  # a contract v1 (paper decoder) model: cannot simulate
    result = run(cmssw_build, f"genJets.fileName={bad}", f"gvaeFastSim.modelPath={paper}",
                 f"simOut.fileName={tmp_path / 'x.gvh'}")
    assert result.returncode == 4, result.stderr
    assert "[while beginJob of module 'gvaeFastSim' (GvaeFastSimProducer)]" in result.stderr, result.stderr
