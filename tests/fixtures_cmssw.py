"""cmssw_example built once per test session against the installed gvae package (find_package(gvae)
through gvae.native.cmake_prefix_path() only), shared by the reconstruction and fast-simulation tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gvae.native
from fixtures_shared import built_once

EXAMPLE = Path(__file__).resolve().parents[1] / "cmssw_example"

__all__ = ["cmssw_build"]


@pytest.fixture(scope="session")
def cmssw_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's build folder (every target: gvaeRun and its unit tests; ~1 min on 2 cores).
    The installed libgvae must define gvae::Simulator, so the fast-simulation path is ON."""
    for tool in ("cmake", "ninja"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to build cmssw_example (it is part of the environment)")

    def build_example(build: Path) -> Path:
        prefix = gvae.native.cmake_prefix_path()
        configure = subprocess.run(
            ["cmake", "-S", str(EXAMPLE), "-B", str(build), "-G", "Ninja", f"-DCMAKE_PREFIX_PATH={prefix}",
             f"-DPython_EXECUTABLE={sys.executable}"], capture_output=True, text=True)
        assert configure.returncode == 0, configure.stdout + configure.stderr
        assert f"gvae 0.1.0 from {prefix}" in configure.stdout  # found through the installed package
        assert "cmssw_example: fast simulation ON" in configure.stdout, configure.stdout
        built = subprocess.run(["cmake", "--build", str(build), "-j", str(min(os.cpu_count() or 1, 2))],
                               capture_output=True, text=True)
        assert built.returncode == 0, built.stdout[-5000:] + built.stderr[-5000:]
        return build

    return built_once(tmp_path_factory, "cmssw_example_build", build_example)
