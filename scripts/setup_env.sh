#!/usr/bin/env bash
# Create (or update) the project's virtual environment and install everything gvae needs.
# Idempotent: a second run only re-installs the gvae package itself (to pick up C++ changes).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.gvae-deps-stamp"
deps_hash=$(cat pyproject.toml scripts/setup_env.sh scripts/install_horovod.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$deps_hash" ]; then
  echo "[setup] installing dependencies into $VENV"
  # torch first and pinned: the CPU build of 2.13.0; nothing later may pull another torch.
  "$PY" -m pip install --quiet "torch==2.13.0"
  # Build requirements (the package is built without isolation so it sees the installed torch).
  # numpy joins them (same requirement as pyproject's) so that nothing Horovod's build imports is
  # being replaced while it runs.
  numpy_req=$("$PY" -c 'import tomllib; print(next(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if d.startswith("numpy")))')
  "$PY" -m pip install --quiet "scikit-build-core>=0.10" "pybind11>=2.12" "ninja>=1.11" "setuptools>=68" wheel "nlohmann-json>=3.11" "$numpy_req"
  # Horovod is compiled from source (the longest item of a fresh setup, ~330 s of CPU) in the background
  # while the remaining dependencies install: pip is single-threaded and waits on the disk, so the two
  # overlap instead of adding up (docs/DESIGN.md section 11).
  hvd_log="$VENV/.horovod-build.log"
  PYTHON="$PY" bash scripts/install_horovod.sh --build-only > "$hvd_log" 2>&1 &
  hvd_pid=$!
  # Runtime and test dependencies, read from pyproject.toml so there is one list.
  "$PY" - <<'PYEOF' > "$VENV/.gvae-requirements.txt"
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = list(p["dependencies"]) + list(p.get("optional-dependencies", {}).get("test", []))
print("\n".join(deps))
PYEOF
  "$PY" -m pip install --quiet -r "$VENV/.gvae-requirements.txt"
  # energyflow (EFPs for FPD/KPD) without its dependency resolution: its `wasserstein` dependency
  # declares numpy<2, which would downgrade numpy under pyarrow (see pyproject's `efp` extra).
  "$PY" - <<'PYEOF' > "$VENV/.gvae-efp.txt"
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["efp"]))
PYEOF
  "$PY" -m pip install --quiet --no-deps -r "$VENV/.gvae-efp.txt"
  "$PY" -c "import numpy, pyarrow, energyflow; assert int(numpy.__version__.split('.')[0]) >= 2, numpy.__version__"
  if ! wait "$hvd_pid"; then
    cat "$hvd_log" >&2
    echo "[setup] building Horovod failed (log above, also in $hvd_log)" >&2
    exit 1
  fi
  grep '^\[install_horovod\]' "$hvd_log" || true
  PYTHON="$PY" bash scripts/install_horovod.sh
  echo "$deps_hash" > "$stamp"
fi
echo "[setup] building and installing gvae (C++ library + bindings)"
"$PY" -m pip install --quiet --no-build-isolation --no-deps -e .
"$PY" -c "import torch, gvae; print('[setup] ready: torch', torch.__version__, '| gvae', gvae.__version__)"
