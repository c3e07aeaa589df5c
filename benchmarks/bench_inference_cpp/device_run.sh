#!/usr/bin/env bash
# The first GPU machine: build libgvae + its C++ tests against that machine's own python3/torch
# (CUDA LibTorch), run every ctest (test_cuda: several threads, one model, own streams, CPU-vs-CUDA
# agreement, cuda:N, Auto, pinned staging; test_thread_count; the stress test), then the CUDA
# inference benchmark and the own-streams vs default-stream comparison. Made for the session
# `device` tool, whose lease is 15 minutes in all and 10 minutes per command: every phase has its
# own time limit and the work is split in two calls on the same warm machine (build/gpu is kept):
#   carry: .whl (jsonschema + deps, nlohmann-json wheels for the machine's python) and the .gvh jets file
#   run 1: bash benchmarks/bench_inference_cpp/device_run.sh JETS.gvh tests   (timeout_s 560; <= 530 s of limits)
#   run 2: bash benchmarks/bench_inference_cpp/device_run.sh JETS.gvh bench   (timeout_s 300; <= 270 s of limits)
# (`all`, the default, runs both in one command where a lease allows it.) What finished is always in $OUT.
# Results in $OUT: summary.txt (the lines to read first), cmake.log, build.log, ctest.log,
# test_cuda.log, bench.log, streams.log, inference.json, inference.md.
set -uo pipefail
JETS=${1:?usage: device_run.sh JETS.gvh [tests|bench|all]}
PART=${2:-all}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
say() { echo "$*" | tee -a "$SUMMARY"; }
phase() {  # phase NAME SECONDS LOG command...: run with a time limit, record rc in the summary
  local name=$1 limit=$2 log=$3; shift 3
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1
  local rc=$?
  say "phase $name: rc=$rc ($((SECONDS - t0)) s, limit $limit s)"
  return $rc
}

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/python PYTHONUNBUFFERED=1
nvidia-smi -L | tee -a "$SUMMARY"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count())" | tee -a "$SUMMARY"
PY=$(command -v python3)
NL=/tmp/site/nlohmann_json/include
MODELS=/tmp/models
JOBS=$(nproc)

if [[ $PART == tests || $PART == all ]]; then
phase configure 60 "$OUT/cmake.log" cmake -S . -B build/gpu -G Ninja -DPython_EXECUTABLE="$PY" -DGVAE_BUILD_TESTS=ON \
  -DGVAE_NLOHMANN_INCLUDE_DIR="$NL" -DGVAE_TEST_MODEL_DIR="$MODELS" || { tail -30 "$OUT/cmake.log"; exit 1; }
grep "gvae: LibTorch" "$OUT/cmake.log" | tee -a "$SUMMARY"
phase build 200 "$OUT/build.log" cmake --build build/gpu -j "$JOBS" || { grep -E "error|FAILED" "$OUT/build.log" | head -30; exit 1; }

# The fixtures first (CPU + CUDA exports: tiny.pt/.pt2, tiny_cuda.pt/.pt2, the OpenMP probe), then every test.
phase ctest 210 "$OUT/ctest.log" ctest --test-dir build/gpu --output-on-failure -V -j 4
grep -E "Test +#|tests passed|tests failed|vs cpu|max \|cuda|SKIP|FAIL|identical|worker thread|CUDA devices" \
  "$OUT/ctest.log" | tee -a "$SUMMARY"
# test_cuda alone once more, its whole output in one place.
GVAE_TEST_MODELS=$MODELS GVAE_SOURCE_DIR=$PWD timeout 60 build/gpu/tests/cpp/test_cuda > "$OUT/test_cuda.log" 2>&1
say "test_cuda rc=$?"
fi
[[ $PART == bench || $PART == all ]] || { say "done ($PART)"; exit 0; }
[[ -x build/gpu/tests/cpp/test_cuda ]] || { say "bench: run the tests part first (build/gpu missing)"; exit 1; }

# The benchmark: the installed package, like an external user.
cmake --install build/gpu --prefix /tmp/gvae > /dev/null
phase bench-build 60 "$OUT/bench-build.log" bash -c "cmake -S benchmarks/bench_inference_cpp -B build/bench-gpu -G Ninja \
  -DCMAKE_PREFIX_PATH=/tmp/gvae -DPython_EXECUTABLE='$PY' && cmake --build build/bench-gpu" || exit 1
phase bench 150 "$OUT/bench.log" python3 benchmarks/bench_inference.py --device cuda --hits "$JETS" \
  --bench-exe build/bench-gpu/bench_inference --jets 512 --batch-sizes 1 64 512 --max-jets-batch1 64 --repeats 3 \
  --cache /tmp/bench --results "$OUT"
grep -v Warning "$OUT/bench.log" | tail -25
# 4 threads sharing one model: own streams vs all on the default stream (tiny test models, batch 64).
phase streams 60 "$OUT/streams.log" build/bench-gpu/bench_inference --hits "$JETS" --model "$MODELS/tiny_cuda.pt2" \
  --model "$MODELS/tiny.pt" --device cuda --batch-sizes 64 --jets 512 --repeats 3 --streams 4
grep "^streams" "$OUT/streams.log" | tee -a "$SUMMARY"
say "done ($PART)"
