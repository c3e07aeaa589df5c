"""glibc malloc settings of the inference commands (gvae/allocator.py): applied in a fresh process on
Linux, switched off by GVAE_MALLOC_TUNING=0, stated in the commands' --help."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CODE = "from gvae.allocator import keep_freed_memory; print(keep_freed_memory())"


def _run(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "GVAE_MALLOC_TUNING"} | env_extra
    return subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True,
                          env=env, timeout=120).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the settings are glibc mallopt parameters (Linux with glibc only)")
def test_the_settings_are_applied_unless_switched_off() -> None:
    assert _run({}) == "True"
    assert _run({"GVAE_MALLOC_TUNING": "0"}) == "False"


@pytest.mark.parametrize("module", ["gvae.simulate", "gvae.evaluate"])
def test_the_commands_state_the_switch_in_their_help(module: str) -> None:
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert "GVAE_MALLOC_TUNING=0" in out
