"""The CMSSW-like example (cmssw_example/): built against the installed gvae package with
find_package(gvae), run on generated jets, compared with the Python bindings.

Tolerance against the bindings (same C++ code, possibly different batch compositions): reconstructed
x, y within 1e-5 (a pixel is 0.0174), energy within 1e-4 relative + 1e-6 GeV; channels, node counts,
diagnostics and jet order identical. Same batching gives byte-identical files.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gvae.io
from gvae import geometry

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "cmssw_example"
CONFIG = EXAMPLE / "GvaeProducer" / "test" / "gvaeReco_cfg.txt"
sys.path.insert(0, str(EXAMPLE / "GvaeProducer" / "python"))
from compare_with_bindings import compare  # noqa: E402
from recofile import read_gvh_hits, read_reco_details  # noqa: E402

pytestmark = pytest.mark.slow  # the session builds the example once (~1 min on 2 cores)


@pytest.fixture(scope="session")
def jets_gvh(generated_file_factory) -> Path:
    return generated_file_factory(".gvh")


@pytest.fixture(scope="session")
def model_pt(exported_torchscript) -> Path:
    return Path(exported_torchscript["torchscript"])


def run(build: Path, out_dir: Path, *overrides: str, config: Path = CONFIG) -> subprocess.CompletedProcess:
    """gvaeRun CONFIG with overrides; outputs default to out_dir/reco.{gvh,gvr}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    defaults = [f"out.fileName={out_dir / 'reco.gvh'}", f"out.detailsFileName={out_dir / 'reco.gvr'}",
                f"process.timingReport={out_dir / 'timing.json'}"]
    return subprocess.run([str(build / "gvaeRun"), str(config), *defaults, *overrides],
                          capture_output=True, text=True, timeout=300)


def ok_run(build: Path, out_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    result = run(build, out_dir, *overrides)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_unit_tests_pass(cmssw_build: Path) -> None:
    """The example's own ctest executables (framework + .gvh reader/writer)."""
    result = subprocess.run(["ctest", "--test-dir", str(cmssw_build), "--output-on-failure"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "100% tests passed" in result.stdout


@pytest.mark.parametrize("fmt", ["torchscript", "aoti"])
def test_every_event_once_and_equal_to_bindings(cmssw_build: Path, jets_gvh: Path, exported_models, fmt: str,
                                                tmp_path: Path) -> None:
    model = Path(exported_models[fmt])
    n_jets = gvae.io.count_jets(jets_gvh)
    result = ok_run(cmssw_build, tmp_path, f"source.fileName={jets_gvh}", f"gvaeReco.modelPath={model}",
                    "process.numberOfStreams=3", "gvaeReco.batchSize=64")

    timing = json.loads((tmp_path / "timing.json").read_text())
    assert timing["events"] == n_jets and timing["streams"] == 3
    assert sum(timing["events_per_stream"]) == n_jets
    assert [(m["label"], m["events"]) for m in timing["modules"]] == [
        ("source", n_jets), ("gvaeReco", n_jets), ("out", n_jets)]
    assert "TimeReport" in result.stdout and "GvaeReconstructionProducer" in result.stdout

    details = read_reco_details(tmp_path / "reco.gvr")
    input_ids = [j.event_id for j in read_gvh_hits(jets_gvh)]
    assert [d.event_id for d in details] == input_ids  # every event once, in input order
    assert all(d.n_nodes == len(d.hits) > 0 for d in details)

    comparison = compare(jets_gvh, model, tmp_path / "reco.gvr", reco_gvh=tmp_path / "reco.gvh", batch_size=64)
    assert comparison.ok, comparison.problems[:5]
    assert comparison.jets == n_jets and comparison.hits == sum(len(d.hits) for d in details)


def test_streams_and_batching_do_not_change_the_output(cmssw_build: Path, jets_gvh: Path, model_pt: Path,
                                                        tmp_path: Path) -> None:
    common = (f"source.fileName={jets_gvh}", f"gvaeReco.modelPath={model_pt}")
    ok_run(cmssw_build, tmp_path / "s1", *common, "process.numberOfStreams=1")
    ok_run(cmssw_build, tmp_path / "s4", *common, "process.numberOfStreams=4")
    for name in ("reco.gvh", "reco.gvr"):
        assert (tmp_path / "s1" / name).read_bytes() == (tmp_path / "s4" / name).read_bytes()
    # the identity is not vacuous: several streams did the work (the processor starts all streams
    # together before the first event is read, so one stream cannot drain the input alone)
    per_stream = json.loads((tmp_path / "s4" / "timing.json").read_text())["events_per_stream"]
    assert len(per_stream) == 4 and sum(per_stream) == gvae.io.count_jets(jets_gvh)
    assert sum(n > 0 for n in per_stream) >= 2, per_stream

    # several jets per event, batched by 4 inside the producer: same jets, equal within tolerance
    ok_run(cmssw_build, tmp_path / "j7", *common, "process.numberOfStreams=3", "source.jetsPerEvent=7",
           "gvaeReco.batchSize=4")
    timing = json.loads((tmp_path / "j7" / "timing.json").read_text())
    assert timing["events"] == -(-gvae.io.count_jets(jets_gvh) // 7)
    comparison = compare(jets_gvh, model_pt, tmp_path / "j7" / "reco.gvr", batch_size=64)
    assert comparison.ok, comparison.problems[:5]
    # the same in input order (gvaeReco.sortBySize=false): the same jets, equal within tolerance
    ok_run(cmssw_build, tmp_path / "j7u", *common, "process.numberOfStreams=3", "source.jetsPerEvent=7",
           "gvaeReco.batchSize=4", "gvaeReco.sortBySize=false")
    comparison = compare(jets_gvh, model_pt, tmp_path / "j7u" / "reco.gvr", batch_size=64)
    assert comparison.ok, comparison.problems[:5]


def test_sampling_is_reproducible_and_equal_to_bindings(cmssw_build: Path, jets_gvh: Path, model_pt: Path,
                                                        tmp_path: Path) -> None:
    common = (f"source.fileName={jets_gvh}", f"gvaeReco.modelPath={model_pt}", "gvaeReco.mode=sampling",
              "gvaeReco.seed=3", "gvaeReco.noise=jet")
    ok_run(cmssw_build, tmp_path / "a", *common, "process.numberOfStreams=1")
    ok_run(cmssw_build, tmp_path / "b", *common, "process.numberOfStreams=4", "source.jetsPerEvent=5")
    assert (tmp_path / "a" / "reco.gvr").read_bytes() == (tmp_path / "b" / "reco.gvr").read_bytes()
    assert compare(jets_gvh, model_pt, tmp_path / "a" / "reco.gvr", mode="sampling", seed=3).ok
    # the check is not vacuous: sampling differs from the deterministic reconstruction
    assert not compare(jets_gvh, model_pt, tmp_path / "a" / "reco.gvr", mode="deterministic").ok

    # per-stream generators: runs, every event once (output depends on scheduling, so no equality)
    ok_run(cmssw_build, tmp_path / "c", *common[:-1], "gvaeReco.noise=stream", "process.numberOfStreams=2")
    assert len(read_reco_details(tmp_path / "c" / "reco.gvr")) == gvae.io.count_jets(jets_gvh)


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _bad_hit(src: Path, dst: Path, row: int = 60) -> Path:
    """Copy of ``src`` whose jet ``row`` has an impossible channel (7) in its first hit: the file
    opens fine, the job fails in the middle of the event loop on one of the streams."""
    data = bytearray(src.read_bytes())
    pos = 24
    for _ in range(row):
        n_hits = int.from_bytes(data[pos + 28:pos + 32], "little")
        pos += 32 + 12 * n_hits
    assert int.from_bytes(data[pos + 28:pos + 32], "little") > 0
    data[pos + 32] = 7
    dst.write_bytes(bytes(data))
    return dst


# (case id, overrides given tmp dir / input / model, expected exit code, expected text in the message)
BAD_CONFIGURATIONS = [
    ("missing-model", lambda t, j, m: [f"gvaeReco.modelPath={t / 'missing.pt'}"], 4, "ModelLoadError"),
    ("not-a-model", lambda t, j, m: [f"gvaeReco.modelPath={j}"], 4, "ModelLoadError"),
    ("bad-device-name", lambda t, j, m: ["gvaeReco.device=gpu"], 2, "must be cpu, cuda, cuda:N or auto"),
    ("missing-input", lambda t, j, m: [f"source.fileName={t / 'missing.gvh'}"], 3, "cannot open"),
    ("truncated-input", lambda t, j, m: [f"source.fileName={_truncated(j, t / 'half.gvh')}"], 3, "truncated"),
    ("bad-hit-mid-file", lambda t, j, m: [f"source.fileName={_bad_hit(j, t / 'bad.gvh')}",
                                          "process.numberOfStreams=3"], 3, "row 60, field 'hits[0].channel'"),
    ("not-gvh-input", lambda t, j, m: [f"source.fileName={CONFIG}"], 3, "field 'magic'"),
    ("unknown-key", lambda t, j, m: ["gvaeReco.batchsize=8"], 2, "unknown parameter(s): gvaeReco.batchsize"),
    ("bad-batch-size", lambda t, j, m: ["gvaeReco.batchSize=0"], 2, "gvaeReco.batchSize' must be >= 1"),
    ("bad-streams", lambda t, j, m: ["process.numberOfStreams=zero"], 2, "must be an integer"),
    ("bad-mode", lambda t, j, m: ["gvaeReco.mode=random"], 2, "must be deterministic or sampling"),
    ("malformed-override", lambda t, j, m: ["justtext"], 2, "expected 'key=value'"),
]


@pytest.mark.parametrize("overrides, code, text", [c[1:] for c in BAD_CONFIGURATIONS],
                         ids=[c[0] for c in BAD_CONFIGURATIONS])
def test_bad_configuration_fails_cleanly(cmssw_build: Path, jets_gvh: Path, model_pt: Path, tmp_path: Path,
                                         overrides, code: int, text: str) -> None:
    result = run(cmssw_build, tmp_path / "out", f"source.fileName={jets_gvh}", f"gvaeReco.modelPath={model_pt}",
                 *overrides(tmp_path, jets_gvh, model_pt))
    _assert_clean_failure(result, code, text)
    assert not (tmp_path / "out" / "reco.gvh").exists() and not (tmp_path / "out" / "reco.gvh.tmp").exists()


def test_cuda_without_gpu_is_device_unavailable(cmssw_build: Path, jets_gvh: Path, model_pt: Path,
                                                tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: device=cuda is expected to work here")
    result = run(cmssw_build, tmp_path, f"source.fileName={jets_gvh}", f"gvaeReco.modelPath={model_pt}",
                 "gvaeReco.device=cuda")
    _assert_clean_failure(result, 5, "[DeviceUnavailable]")


def test_missing_config_and_missing_required_key(cmssw_build: Path, jets_gvh: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(cmssw_build / "gvaeRun"), str(tmp_path / "nope_cfg.txt")],
                            capture_output=True, text=True)
    _assert_clean_failure(result, 2, "cannot read configuration file")

    config = tmp_path / "cfg.txt"
    config.write_text(f"source.fileName = {jets_gvh}\nout.fileName = {tmp_path / 'r.gvh'}\n")
    result = subprocess.run([str(cmssw_build / "gvaeRun"), str(config)], capture_output=True, text=True)
    _assert_clean_failure(result, 2, "missing required parameter 'gvaeReco.modelPath'")

    result = subprocess.run([str(cmssw_build / "gvaeRun")], capture_output=True, text=True)
    _assert_clean_failure(result, 2, "missing CONFIG")


def _assert_clean_failure(result: subprocess.CompletedProcess, code: int, text: str) -> None:
    """Non-zero exit with the expected code (not a signal), one clear line on stderr naming the problem."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("gvaeRun: error [")]
    assert len(errors) == 1, result.stderr
    assert text in errors[0], errors[0]
    assert "terminate called" not in result.stderr and "Aborted" not in result.stderr


def test_output_gvh_is_read_by_gvae_io(cmssw_build: Path, jets_gvh: Path, model_pt: Path, tmp_path: Path) -> None:
    """The reconstructed .gvh is an ordinary .gvh: gvae.io reads it; jets keep their scalars; hits sit on
    valid pixels (HCAL at tower centres) and carry the reconstructed energy."""
    ok_run(cmssw_build, tmp_path, f"source.fileName={jets_gvh}", f"gvaeReco.modelPath={model_pt}",
           "process.maxEvents=25")
    reco = gvae.io.read_jets(tmp_path / "reco.gvh")
    original = gvae.io.read_jets(jets_gvh, stop=25)
    assert len(reco) == 25
    for name in ("pt", "eta", "phi", "m0", "y"):
        np.testing.assert_array_equal(getattr(reco, name), getattr(original, name))
    raw = read_gvh_hits(tmp_path / "reco.gvh")
    details = read_reco_details(tmp_path / "reco.gvr")
    for jet, detail in zip(raw, details):
        hcal = jet.hits["channel"] == 2
        assert np.all(jet.hits["ieta"][hcal] % 5 == 2) and np.all(jet.hits["iphi"][hcal] % 5 == 2)
        np.testing.assert_array_equal(jet.hits["energy"], detail.hits["energy"])
        assert np.all(jet.hits["energy"] > 0)
        # output positions: the nearest pixel of the reconstructed (x, y), exactly; HCAL at its tower centre
        ieta, iphi = geometry.nearest_pixel(detail.hits["x"]), geometry.nearest_pixel(detail.hits["y"])
        np.testing.assert_array_equal(detail.hits["ieta"], ieta)
        np.testing.assert_array_equal(detail.hits["iphi"], iphi)
        ieta[hcal], iphi[hcal] = 5 * (ieta[hcal] // 5) + 2, 5 * (iphi[hcal] // 5) + 2
        np.testing.assert_array_equal(jet.hits["ieta"], ieta)
        np.testing.assert_array_equal(jet.hits["iphi"], iphi)
