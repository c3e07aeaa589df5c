"""The installed gvae package is a CMake package: an external project finds and links it.

``tests/cpp/consumer`` (``find_package(gvae REQUIRED)`` + ``target_link_libraries(app PRIVATE
gvae::gvae)``) is configured with ``CMAKE_PREFIX_PATH = gvae.native.cmake_prefix_path()``, built
and run on an exported model.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gvae.native as native

ROOT = Path(__file__).resolve().parents[1]


def _model(tmp: Path) -> Path:
    """The tiny contract v1 TorchScript test model exported into ``tmp`` (v1: one reconstructed hit per
    graph node, so the consumer's 4-hit jet gives ``reco_hits=4``; the committed reference model is v2)."""
    spec = importlib.util.spec_from_file_location("gvae_make_test_models", ROOT / "tests" / "cpp" / "make_test_models.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    maker.export_once(tmp, "tiny", ["torchscript"], "cpu")
    return tmp / "tiny.pt"


def _run(cmd: list[str]) -> str:
    """Run ``cmd``; fail with its output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not on PATH")
def test_external_project_builds_against_installed_package(tmp_path: Path) -> None:
    build = tmp_path / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    _run(["cmake", "-S", str(ROOT / "tests" / "cpp" / "consumer"), "-B", str(build), *generator,
          f"-DCMAKE_PREFIX_PATH={native.cmake_prefix_path()}", f"-DPython_EXECUTABLE={sys.executable}"])
    _run(["cmake", "--build", str(build)])
    out = _run([str(build / "consumer"), str(_model(tmp_path))])
    assert "reco_hits=4" in out and "jet_id=7" in out, out
    bad = subprocess.run([str(build / "consumer"), str(tmp_path / "missing.pt")], capture_output=True, text=True)
    assert bad.returncode == 1 and "missing.pt" in bad.stderr
