#!/usr/bin/env bash
# Compile cost of the C++ unit tests, one executable per test (GVAE_TEST_UNITY=OFF) against one
# executable from one translation unit (ON, the default), side by side in one run, one job at a time
# (-j 1: the per-object times are CPU-bound compile times, summed from .ninja_log).
# Two configurations, as `make test` builds them: `make test-cpp` (-O0 tests against the installed
# libgvae) and `make sanitize` (ASan+UBSan, -O1 -g1, libgvae rebuilt instrumented; its objects are
# reported separately). Usage: bash benchmarks/bench_test_build.sh [OUT_DIR] (default build/bench-test-build)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[[ $PY == /* ]] || PY="$PWD/$PY"   # absolute, symlink kept (the venv's python, not its base)
OUT=${1:-build/bench-test-build}
rm -rf "$OUT"; mkdir -p "$OUT"
PREFIX=$("$PY" -c 'import gvae.native as n; print(n.cmake_prefix_path())')
sum_log() {  # ninja log -> "tests_s libgvae_s link_s n_test_objects"
  awk 'NR > 1 { t = ($2 - $1) / 1000 }
       NR > 1 && $4 ~ /tests\/cpp\/CMakeFiles\/.*\.o$/ { tests += t; n++ }
       NR > 1 && $4 ~ /CMakeFiles\/gvae\.dir\/.*\.o$/ { lib += t }
       NR > 1 && $4 ~ /^tests\/cpp\/(test_[a-z_]+|gvae_tests)$/ { link += t }
       END { printf "%.1f %.1f %.1f %d\n", tests, lib, link, n }' "$1/.ninja_log"
}
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), $(git rev-parse --short HEAD)"
printf "%-10s %-6s %12s %12s %10s %8s\n" config unity tests_cpu_s libgvae_s link_s objects
for config in test-cpp sanitize; do
  for unity in OFF ON; do
    dir="$OUT/$config-$unity"
    if [ "$config" = test-cpp ]; then
      cmake -S . -B "$dir" -G Ninja -DPython_EXECUTABLE="$PY" -DGVAE_BUILD_TESTS=ON -DGVAE_TEST_OPT=-O0 \
        -DGVAE_TEST_INSTALLED="$PREFIX" -DGVAE_TEST_UNITY=$unity > "$dir.cmake.log" 2>&1 || { tail -30 "$dir.cmake.log"; exit 1; }
    else
      cmake -S . -B "$dir" -G Ninja -DPython_EXECUTABLE="$PY" -DGVAE_BUILD_TESTS=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
        -DGVAE_SANITIZE=address,undefined -DGVAE_TEST_UNITY=$unity > "$dir.cmake.log" 2>&1 || { tail -30 "$dir.cmake.log"; exit 1; }
    fi
    cmake --build "$dir" -j 1 > "$dir.build.log" 2>&1 || { tail -30 "$dir.cmake.log" "$dir.build.log"; exit 1; }
    printf "%-10s %-6s %12s %12s %10s %8s\n" "$config" "$unity" $(sum_log "$dir")
  done
done
