#!/usr/bin/env bash
# A step of `make demo` (scripts/demo.sh): build cmssw_example against the INSTALLED gvae package (find_package(gvae)),
# run its unit tests, then with gvaeRun
#   1. reconstruction (process.path = reconstruction) of the held-out jets, compared with the bindings
#      (compare_with_bindings.py);
#   2. fast simulation (process.path = simulation) of generator jets with the held-out jets' type, pT,
#      eta, phi (those inside the model's trained pT range of their type, written as a conditions CSV),
#      compared bit for bit with gvae._core.Simulator on the same jets and seed (compare_simulation.py),
#      and read back by `python -m gvae.data inspect`.
# Simulation needs a libgvae with gvae::Simulator and a model with a `simulate` entry point
# (contract v2); without either it is SKIPPED with the reason printed and written to compare_sim.json.
#
#   bash cmssw_example/run_demo.sh OUT_DIR
#
# Inputs : OUT_DIR/heldout.gvh, OUT_DIR/export/gvae.pt2 (else gvae.pt)
# Outputs: OUT_DIR/cmssw/{reco.gvh, reco.gvr, timing.json, gvaeRun.log, compare.json, genjets.csv,
#                         sim.gvh, timing_sim.json, gvaeRun_sim.log, inspect_sim.txt, compare_sim.json}
# Environment overrides: PY, CMSSW_BUILD (build dir), CMSSW_MODEL, CMSSW_INPUT, CMSSW_STREAMS (default 2),
#   CMSSW_SIM_MODEL (default CMSSW_MODEL), CMSSW_GENJETS (generator jets .csv/.gvh, default: genjets.csv
#   made from CMSSW_INPUT), CMSSW_SIM_SEED (default 1).
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

# a failed comparison is reported at the end, after the simulation has run too
reco_status=0
"$PY" cmssw_example/GvaeProducer/python/compare_with_bindings.py --input "$INPUT" --model "$MODEL" \
  --details "$RUN_DIR/reco.gvr" --reco "$RUN_DIR/reco.gvh" --out "$RUN_DIR/compare.json" || reco_status=$?

# ---- fast simulation ---------------------------------------------------------------------------
SIM_MODEL=${CMSSW_SIM_MODEL:-$MODEL}
GENJETS=${CMSSW_GENJETS:-$RUN_DIR/genjets.csv}
SIM_SEED=${CMSSW_SIM_SEED:-1}
skip_sim() {
  echo "cmssw_example: simulation SKIPPED: $1"
  "$PY" -c 'import json, sys; json.dump({"ok": None, "skipped": sys.argv[1]}, open(sys.argv[2], "w"))' \
    "$1" "$RUN_DIR/compare_sim.json"
}
if ! grep -q 'cmssw_example: fast simulation ON' "$RUN_DIR/cmake-configure.log"; then
  skip_sim "the installed libgvae has no gvae::Simulator (cmssw_example built without the simulation path)"
elif ! "$PY" - "$SIM_MODEL" "$INPUT" "$GENJETS" "${CMSSW_GENJETS:+given}" <<'PYEOF'
# the model must simulate; unless CMSSW_GENJETS is given, write the generator jets: the held-out jets'
# type, pt, eta, phi (float32 values, written exactly), those inside the trained pT range of their type
import csv, sys
sys.path.insert(0, "cmssw_example/GvaeProducer/python")
from compare_simulation import read_gen_jets
from gvae import _core
model, source, out, given = sys.argv[1:5]
contract = _core.Model.load(model, "cpu").contract
if "simulate" not in (contract.get("entry_points") or {}):
    sys.exit(1)
if not given:
    ranges = {int(t["index"]): (t["pt_min"], t["pt_max"]) for t in contract["conditions"]["types"]}
    gen = read_gen_jets(source)
    keep = [i for i in range(len(gen)) if int(gen.jet_type[i]) in ranges
            and ranges[int(gen.jet_type[i])][0] <= gen.pt[i] <= ranges[int(gen.jet_type[i])][1]]
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["type", "pt", "eta", "phi"])
        for i in keep:
            w.writerow([int(gen.jet_type[i]), repr(float(gen.pt[i])), repr(float(gen.eta[i])), repr(float(gen.phi[i]))])
    print(f"cmssw_example: generator jets {out}: {len(keep)} of the {len(gen)} jets of {source} "
          f"(type, pt, eta, phi; the others lie outside the model's trained pT range of their type)")
PYEOF
then
  skip_sim "model $SIM_MODEL has no 'simulate' entry point (contract v1 / paper decoder)"
else
  "$BUILD/gvaeRun" cmssw_example/GvaeProducer/test/gvaeReco_cfg.txt process.path=simulation \
    genJets.fileName="$GENJETS" gvaeFastSim.modelPath="$SIM_MODEL" gvaeFastSim.seed="$SIM_SEED" \
    process.numberOfStreams="$STREAMS" simOut.fileName="$RUN_DIR/sim.gvh" \
    process.timingReport="$RUN_DIR/timing_sim.json" | tee "$RUN_DIR/gvaeRun_sim.log"
  "$PY" -m gvae.data inspect "$RUN_DIR/sim.gvh" --no-progress | tee "$RUN_DIR/inspect_sim.txt"
  "$PY" cmssw_example/GvaeProducer/python/compare_simulation.py --genjets "$GENJETS" --model "$SIM_MODEL" \
    --sim "$RUN_DIR/sim.gvh" --seed "$SIM_SEED" --out "$RUN_DIR/compare_sim.json"
fi
if (( reco_status != 0 )); then
  echo "cmssw_example: the reconstruction differs from the bindings (compare.json)" >&2
  exit "$reco_status"
fi
