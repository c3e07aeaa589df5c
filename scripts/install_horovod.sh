#!/usr/bin/env bash
# Build and install Horovod 0.28.1 (PyTorch + Gloo, no MPI) into the active Python environment.
#
# Horovod has had no release since 2023 and exists only as source. Its CMake forces C++14 and strips
# -std from CXXFLAGS, while torch 2.13 headers need C++17: a compiler wrapper adds -std=c++17 last.
set -euo pipefail
PY=${PYTHON:-python}
if "$PY" -c "import horovod.torch" 2>/dev/null; then
  echo "[install_horovod] horovod already installed: $("$PY" -c 'import horovod;print(horovod.__version__)')"
  exit 0
fi
wrapdir=$(mktemp -d)
trap 'rm -rf "$wrapdir"' EXIT
cat > "$wrapdir/cxx17" <<'W'
#!/bin/sh
exec g++ "$@" -std=c++17
W
chmod +x "$wrapdir/cxx17"
# Horovod's CMake files need the pre-4.0 policy behaviour when a pip CMake 4.x comes first on PATH.
export CMAKE_POLICY_VERSION_MINIMUM=3.5
export CXX="$wrapdir/cxx17"
export HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
       HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_CPU_OPERATIONS=gloo
export MAKEFLAGS=-j$(nproc)
echo "[install_horovod] building horovod 0.28.1 from source (about 3 minutes)"
"$PY" -m pip install --no-build-isolation --no-cache-dir horovod==0.28.1
"$PY" -c "import horovod.torch as hvd; print('[install_horovod] ok, gloo built:', hvd.gloo_built())"
