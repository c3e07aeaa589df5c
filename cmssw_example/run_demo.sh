#!/usr/bin/env bash
# Step 8 of `make demo`: build cmssw_example against the INSTALLED gvae package (find_package(gvae)),
# run its unit tests, run gvaeRun on the held-out jets and compare its output with the Python bindings.
#
#   bash cmssw_example/run_demo.sh OUT_DIR
#
# Inputs : OUT_DIR/heldout.gvh, OUT_DIR/export/gvae.pt2 (else gvae.pt)
# Outputs: OUT_DIR/cmssw/{reco.gvh, reco.gvr, timing.json, gvaeRun.log, compare.json}
# Environment overrides: PY, CMSSW_BUILD (build dir), CMSSW_MODEL, CMSSW_INPUT, CMSSW_STREAMS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:?usage: run_demo.sh OUT_DIR}
BUILD=${CMSSW_BUILD:-build/cmssw_example}
INPUT=${CMSSW_INPUT:-$OUT/heldout.gvh}
STREAMS=${CMSSW_STREAMS:-2}
MODEL=${CMSSW_MODEL:-}
if [[ -z "$MODEL" ]]; then
  MODEL=$OUT/export/gvae.pt2
  [[ -f "$MODEL" ]] || MODEL=$OUT/export/gvae.pt
fi
RUN_DIR=$OUT/cmssw
mkdir -p "$RUN_DIR" "$(dirname "$BUILD")"

PREFIX=$("$PY" -c 'import gvae.native; print(gvae.native.cmake_prefix_path())')
echo "cmssw_example: gvae package prefix $PREFIX"
cmake -S cmssw_example -B "$BUILD" -G Ninja -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DPython_EXECUTABLE="$(realpath "$PY")" > "$RUN_DIR/cmake-configure.log"
cmake --build "$BUILD" -j "$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure

"$BUILD/gvaeRun" cmssw_example/GvaeProducer/test/gvaeReco_cfg.txt \
  source.fileName="$INPUT" gvaeReco.modelPath="$MODEL" process.numberOfStreams="$STREAMS" gvaeReco.aotiRunners="$STREAMS" \
  out.fileName="$RUN_DIR/reco.gvh" out.detailsFileName="$RUN_DIR/reco.gvr" \
  process.timingReport="$RUN_DIR/timing.json" | tee "$RUN_DIR/gvaeRun.log"

"$PY" cmssw_example/GvaeProducer/python/compare_with_bindings.py --input "$INPUT" --model "$MODEL" \
  --details "$RUN_DIR/reco.gvr" --reco "$RUN_DIR/reco.gvh" --out "$RUN_DIR/compare.json"
