#!/usr/bin/env bash
# Build libgvae and its C++ tests on a CUDA machine (its own python3/torch), run ctest there
# (test_cuda included) and the CUDA inference benchmark. Used with the session `device` tool:
#   carry: .whl (jsonschema + deps, nlohmann-json wheels for python 3.12) and the .gvh jets file
#   run:   bash benchmarks/bench_inference_cpp/device_run.sh JETS.gvh
# Logs and results land in $OUT (ctest.log, bench.log, inference.json, inference.md).
set -uo pipefail
JETS=${1:?usage: device_run.sh JETS.gvh}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/python PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
PY=$(command -v python3)
NL=/tmp/site/nlohmann_json/include
cmake -S . -B build/gpu -G Ninja -DPython_EXECUTABLE="$PY" -DGVAE_BUILD_TESTS=ON \
  -DGVAE_NLOHMANN_INCLUDE_DIR="$NL" -DGVAE_TEST_MODEL_DIR=/tmp/models > "$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
cmake --build build/gpu -j 16 > "$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -30; exit 1; }
ctest --test-dir build/gpu --output-on-failure -V -j 4 > "$OUT/ctest.log" 2>&1
echo "ctest rc=$?"
grep -E "Test +#|tests passed|vs cpu|vs torchscript|SKIP|FAIL|identical" "$OUT/ctest.log"
cmake --install build/gpu --prefix /tmp/gvae > /dev/null
cmake -S benchmarks/bench_inference_cpp -B build/bench-gpu -G Ninja -DCMAKE_PREFIX_PATH=/tmp/gvae \
  -DPython_EXECUTABLE="$PY" > /dev/null && cmake --build build/bench-gpu > /dev/null || exit 1
python3 benchmarks/bench_inference.py --device cuda --hits "$JETS" --bench-exe build/bench-gpu/bench_inference \
  --jets 512 --batch-sizes 1 64 512 --max-jets-batch1 64 --repeats 3 --cache /tmp/bench \
  --results "$OUT" > "$OUT/bench.log" 2>&1
echo "bench rc=$?"
cat "$OUT/bench.log" | grep -v Warning | tail -25
