#!/usr/bin/env bash
# The main job end to end on the embedded default (no download, no network):
#   generate jets -> inspect -> convert to graphs -> train -> evaluate -> export
#   -> build the CMSSW-like example against the installed libgvae -> run it on held-out jets
#   -> compare its output with the Python bindings.
# Everything lands in $OUT (default demo_output/). Called by `make demo` after `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-demo_output}
JETS=${DEMO_JETS:-1500}
HELDOUT=${DEMO_HELDOUT:-200}
SEED=${DEMO_SEED:-1}
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
t0=$(date +%s)

step "1/9 generate $JETS jets (Pythia 8 + FastJet + CMS-like detector), half top, half QCD"
$PY -m gvae.data generate --process mixed --jets "$JETS" --seed "$SEED" --out "$OUT/jets.parquet"

step "2/9 inspect: per-channel statistics and event displays"
$PY -m gvae.data inspect "$OUT/jets.parquet" --out "$OUT/inspect"

step "3/9 convert to graph shards (kNN graphs, normalisation from the training split)"
$PY -m gvae.data convert "$OUT/jets.parquet" "$OUT/graphs" --overwrite

step "4/9 train the GVAE (configs/demo.yaml)"
$PY -m gvae.train --config configs/demo.yaml --data "$OUT/graphs" --out "$OUT/run"

step "5/9 evaluate on the test split: EMD and observables, GVAE vs PCA baseline"
$PY -m gvae.evaluate --checkpoint "$OUT/run/best.pt" --data "$OUT/graphs" --out "$OUT/eval"

step "6/9 export TorchScript + AOTInductor with the model contract, verified against eager"
$PY -m gvae.export --checkpoint "$OUT/run/best.pt" --out "$OUT/export" --format all --verify

step "7/9 held-out jets (a new seed) as the .gvh hits file the C++ example reads"
$PY -m gvae.data generate --process mixed --jets "$HELDOUT" --seed $((SEED + 1000)) --out "$OUT/heldout.gvh"

step "8/9 build cmssw_example against the installed gvae package (find_package(gvae)) and run it"
bash cmssw_example/run_demo.sh "$OUT"

step "9/9 summary"
$PY scripts/demo_summary.py "$OUT" --seconds $(( $(date +%s) - t0 ))
