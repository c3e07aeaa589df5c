#!/usr/bin/env bash
# Build and install Horovod 0.28.1 (PyTorch + Gloo, no MPI) into the active Python environment.
#
# Horovod has had no release since 2023 and exists only as source. Its CMake forces C++14 and strips
# -std from CXXFLAGS, while torch 2.13 headers need C++17: a compiler wrapper adds -std=c++17 last
# (and -g0: no debug info for a third-party library, which makes its build markedly cheaper).
#
# The built wheel is cached in $GVAE_CACHE_DIR/wheels (default ~/.cache/gvae/wheels), keyed by the
# Horovod, torch, Python and compiler versions and this script's text: a machine that keeps that
# directory (a developer's, or CI with a cache) builds Horovod once; a fresh one builds it (~3-5 min
# of 2 cores). pip's own wheel cache is not used for it: its key ignores the torch it was built against.
#
# `install_horovod.sh --build-only`: only make sure the wheel is in the cache (scripts/setup_env.sh runs
# this in the background while the other dependencies install), then a plain run installs it.
set -euo pipefail
PY=${PYTHON:-python}
HOROVOD_VERSION=0.28.1
build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1
if "$PY" -c "import horovod.torch" 2>/dev/null; then
  echo "[install_horovod] horovod already installed: $("$PY" -c 'import horovod;print(horovod.__version__)')"
  exit 0
fi
cache_root=${GVAE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gvae}
key=$( { echo "$HOROVOD_VERSION"; "$PY" -c 'import sys, torch; print(sys.version, torch.__version__)'; g++ --version | head -1;
         cat "$0"; } | sha256sum | cut -c1-16)
wheels="$cache_root/wheels/horovod-$HOROVOD_VERSION-$key"
cached=$(ls "$wheels"/horovod-*.whl 2>/dev/null | head -1 || true)
if [ -z "$cached" ]; then
  wrapdir=$(mktemp -d)
  trap 'rm -rf "$wrapdir"' EXIT
  cat > "$wrapdir/cxx17" <<'W'
#!/bin/sh
exec g++ "$@" -std=c++17 -g0
W
  chmod +x "$wrapdir/cxx17"
  # Horovod's CMake files need the pre-4.0 policy behaviour when a pip CMake 4.x comes first on PATH.
  export CMAKE_POLICY_VERSION_MINIMUM=3.5
  export CXX="$wrapdir/cxx17"
  export HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
         HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_CPU_OPERATIONS=gloo
  export MAKEFLAGS=-j$(nproc)
  echo "[install_horovod] building horovod $HOROVOD_VERSION from source (3-5 minutes on 2 cores; cached in $wheels)"
  "$PY" -m pip wheel --quiet --no-build-isolation --no-deps --no-cache-dir -w "$wrapdir/wheel" "horovod==$HOROVOD_VERSION"
  mkdir -p "$wheels"
  built=$(ls "$wrapdir"/wheel/horovod-*.whl)
  cp "$built" "$wheels/.$(basename "$built").tmp"
  mv "$wheels/.$(basename "$built").tmp" "$wheels/$(basename "$built")"   # atomic for concurrent setups
  cached="$wheels/$(basename "$built")"
else
  echo "[install_horovod] horovod $HOROVOD_VERSION from the wheel cache: $cached"
fi
[ "$build_only" = 1 ] && exit 0
"$PY" -m pip install --quiet "$cached"
"$PY" -c "import horovod.torch as hvd; print('[install_horovod] ok, gloo built:', hvd.gloo_built())"
