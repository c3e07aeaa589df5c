#!/usr/bin/env bash
# The first GPU machine: build libgvae + its C++ tests against that machine's own python3/torch
# (CUDA LibTorch), run every ctest (the fixtures export the tiny v1 and v2 test models for the CPU and,
# seeing a GPU, for CUDA: tiny_cuda.*, tiny_latent_cuda.*), then every CUDA test on its own
# (test_cuda: several threads, one model, own streams, CPU-vs-CUDA agreement for Model::forward,
# Producer::produce (v1 and v2) and Simulator::simulate, cuda:N, Auto, device/stream guards, pinned
# staging), then the contract v2 benchmark: the committed reference model (export/reference/
# gvae_reference.ckpt, re-exported there with that machine's torch for the CPU and for CUDA, both
# formats) through Producer (reconstruct) and Simulator (simulate) at batch 1/8/64, CPU vs CUDA,
# TorchScript vs AOTInductor, and 4 threads on own streams vs the default stream.
#
# Made for the session `device` tool (no internet there; everything builds from the copied tree; its
# lease is 15 minutes in all and 10 minutes per command): every phase has its own time limit and the
# work is split in two calls on the same warm machine (build/gpu is kept between them):
#   carry: .whl (wheels of jsonschema + its deps and nlohmann-json for the machine's python 3.12; see
#          /work/.library/device/README.md for `pip download`)
#   run 1: bash benchmarks/bench_inference_cpp/device_run.sh tests   (timeout_s 560; <= 530 s of limits)
#   run 2: bash benchmarks/bench_inference_cpp/device_run.sh bench   (timeout_s 420; <= 390 s of limits)
# (`all` runs both in one command where a lease allows it.) What finished is always in $OUT.
# Results in $OUT: summary.txt (the lines to read first), cmake.log, build.log, ctest.log, cuda.log,
# export.log, bench_v2.jsonl, bench.log, streams.log.
set -uo pipefail
PART=${1:-all}
OUT=${OUT:-/tmp/out}
JETS=export/reference/heldout.gvh   # 16 held-out jets; --jets/--max-jets-batch1 below repeat them
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
case $PART in tests|bench|all) ;; *) echo "usage: device_run.sh [tests|bench|all]" >&2; exit 2 ;; esac

if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
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

# The fixtures first (CPU + CUDA exports of the v1 and v2 tiny models, the OpenMP probe), then every test.
phase ctest 210 "$OUT/ctest.log" ctest --test-dir build/gpu --output-on-failure -V -j 4
grep -E "Test +#|tests passed|tests failed|vs cpu|max \|cuda|moved vs cpu|SKIP|FAIL|identical|worker thread|CUDA devices" \
  "$OUT/ctest.log" | tee -a "$SUMMARY"
# Every CUDA test once more on its own (label gpu and names with cuda), the whole output in one place.
phase ctest-cuda 60 "$OUT/cuda.log" ctest --test-dir build/gpu --output-on-failure -V -R cuda
grep -E "Test +#|tests passed|tests failed|moved vs cpu|max \|cuda|SKIP|FAIL" "$OUT/cuda.log" | tee -a "$SUMMARY"
fi
[[ $PART == bench || $PART == all ]] || { say "done ($PART)"; exit 0; }
[[ -x build/gpu/tests/cpp/gvae_tests ]] || { say "bench: run the tests part first (build/gpu missing)"; exit 1; }

# The reference model exported with this machine's torch: CPU (both formats) and CUDA (both formats),
# batch 1..64. TorchScript takes seconds; each AOTInductor compile about a minute.
REF=export/reference/gvae_reference.ckpt
for dev in cpu cuda; do
  phase "export-$dev" 150 "$OUT/export-$dev.log" python3 -m gvae.export --checkpoint "$REF" --out "/tmp/ref-$dev" \
    --name gvae_reference --device "$dev" --format all --max-batch 64 --portable
done
cat "$OUT"/export-*.log > "$OUT/export.log"; rm -f "$OUT"/export-*.log

# The benchmark: the installed package, like an external user.
cmake --install build/gpu --prefix /tmp/gvae > /dev/null
phase bench-build 60 "$OUT/bench-build.log" bash -c "cmake -S benchmarks/bench_inference_cpp -B build/bench-gpu -G Ninja \
  -DCMAKE_PREFIX_PATH=/tmp/gvae -DPython_EXECUTABLE='$PY' && cmake --build build/bench-gpu" || exit 1
BENCH=build/bench-gpu/bench_inference
ARGS=(--hits "$JETS" --batch-sizes 1,8,64 --jets 64 --max-jets-batch1 16 --repeats 3)
CPU_MODELS=(); CUDA_MODELS=()
for f in /tmp/ref-cpu/gvae_reference.pt /tmp/ref-cpu/gvae_reference.pt2; do [[ -f $f ]] && CPU_MODELS+=(--model "$f"); done
# TorchScript exported for the CPU moved to CUDA, TorchScript and AOTInductor exported for CUDA.
for f in /tmp/ref-cpu/gvae_reference.pt /tmp/ref-cuda/gvae_reference.pt /tmp/ref-cuda/gvae_reference.pt2; do
  [[ -f $f ]] && CUDA_MODELS+=(--model "$f")
done
: > "$OUT/bench.log"
(( ${#CPU_MODELS[@]} )) && phase bench-cpu 90 "$OUT/bench-cpu.log" "$BENCH" "${ARGS[@]}" "${CPU_MODELS[@]}" --device cpu
(( ${#CUDA_MODELS[@]} )) && phase bench-cuda 90 "$OUT/bench-cuda.log" "$BENCH" "${ARGS[@]}" "${CUDA_MODELS[@]}" --device cuda
cat "$OUT"/bench-cpu.log "$OUT"/bench-cuda.log 2>/dev/null >> "$OUT/bench.log"; rm -f "$OUT"/bench-cpu.log "$OUT"/bench-cuda.log
grep '^{' "$OUT/bench.log" > "$OUT/bench_v2.jsonl"
python3 - "$OUT/bench_v2.jsonl" <<'EOF' | tee -a "$SUMMARY"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'model':<38} {'device':<7} {'B':>3} {'reconstruct':>11} {'run_reco':>9} {'simulate':>9} {'run_sim':>8}  (ms/jet)")
for r in rows:
    print(f"{r['model'][-38:]:<38} {r['device']:<7} {r['batch_size']:>3} {r['reconstruct_ms_per_jet']:>11.3f} "
          f"{r['run_reconstruct_ms_per_jet']:>9.3f} {r['simulate_ms_per_jet']:>9.3f} {r['run_simulate_ms_per_jet']:>8.3f}")
EOF
# 4 threads sharing one model: own streams vs all on the default stream (reconstruct + simulate, batch 64).
(( ${#CUDA_MODELS[@]} )) && phase streams 60 "$OUT/streams.log" "$BENCH" --hits "$JETS" "${CUDA_MODELS[@]}" --device cuda \
  --batch-sizes 64 --jets 64 --repeats 3 --streams 4
grep "^streams" "$OUT/streams.log" | tee -a "$SUMMARY"
say "done ($PART)"
