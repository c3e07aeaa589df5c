#!/usr/bin/env bash
# The main job end to end on the embedded default (no download, no network):
#   generate jets -> inspect -> convert to graphs -> train the latent-only GVAE -> evaluate it
#   (reconstruction through the latent vs the latent-only PCA) -> simulate jets from its prior
#   -> train the paper-decoder GVAE -> export it -> build the CMSSW-like example against the
#   installed libgvae -> run it on held-out jets -> compare its output with the Python bindings.
# (Export and the C++ side handle only the paper decoder until issue 16.)
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

step "1/12 generate $JETS jets (Pythia 8 + FastJet + CMS-like detector), half top, half QCD"
$PY -m gvae.data generate --process mixed --jets "$JETS" --seed "$SEED" --out "$OUT/jets.parquet"

step "2/12 inspect: per-channel statistics and event displays"
$PY -m gvae.data inspect "$OUT/jets.parquet" --out "$OUT/inspect"

step "3/12 convert to graph shards (kNN graphs, max 1024 nodes: no jet is truncated)"
$PY -m gvae.data convert "$OUT/jets.parquet" "$OUT/graphs" --max-nodes 1024 --overwrite

step "4/12 train the latent-only GVAE (configs/demo.yaml) and fit its prior p(z | type, pT)"
$PY -m gvae.train --config configs/demo.yaml --data "$OUT/graphs" --out "$OUT/run"

step "5/12 evaluate on the test split: EMD through the latent, GVAE vs latent-only PCA"
$PY -m gvae.evaluate --checkpoint "$OUT/run/best.pt" --data "$OUT/graphs" --out "$OUT/eval"

step "6/12 simulate $HELDOUT jets from the prior (python -m gvae.simulate) and inspect them"
$PY -m gvae.simulate --checkpoint "$OUT/run/best.pt" --process mixed --jets "$HELDOUT" --seed "$SEED" \
    --out "$OUT/simulated.parquet"
$PY -m gvae.data inspect "$OUT/simulated.parquet" --out "$OUT/simulated_inspect"

step "7/12 paper-decoder GVAE for export and C++ (configs/demo_paper.yaml, graphs with max 400 nodes)"
$PY -m gvae.data convert "$OUT/jets.parquet" "$OUT/graphs400" --max-nodes 400 --overwrite
$PY -m gvae.train --config configs/demo_paper.yaml --data "$OUT/graphs400" --out "$OUT/run_paper"

step "8/12 evaluate the paper-decoder GVAE (decoder sees the encoder's assignments; PCA given the true mask)"
$PY -m gvae.evaluate --checkpoint "$OUT/run_paper/best.pt" --data "$OUT/graphs400" --out "$OUT/eval_paper"

step "9/12 export the paper-decoder model: TorchScript + AOTInductor with the model contract, verified against eager"
$PY -m gvae.export --checkpoint "$OUT/run_paper/best.pt" --out "$OUT/export" --format all --verify

step "10/12 held-out jets (a new seed) as the .gvh hits file the C++ example reads"
$PY -m gvae.data generate --process mixed --jets "$HELDOUT" --seed $((SEED + 1000)) --out "$OUT/heldout.gvh"

step "11/12 build cmssw_example against the installed gvae package (find_package(gvae)) and run it"
bash cmssw_example/run_demo.sh "$OUT"

step "12/12 summary"
$PY scripts/demo_summary.py "$OUT" --seconds $(( $(date +%s) - t0 ))
