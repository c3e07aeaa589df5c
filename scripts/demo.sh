#!/usr/bin/env bash
# The main job end to end on the embedded default (no download, no network):
#   generate jets -> inspect -> convert to graphs -> train the latent-only GVAE -> evaluate it
#   (reconstruction through the latent vs the latent-only PCA) -> simulate jets from its prior
#   -> export it (contract v2: entry points reconstruct and simulate) -> build the CMSSW-like example
#   against the installed libgvae -> run it on held-out jets -> compare its output with the Python bindings.
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

step "1/10 generate $JETS jets (Pythia 8 + FastJet + CMS-like detector), half top, half QCD"
$PY -m gvae.data generate --process mixed --jets "$JETS" --seed "$SEED" --out "$OUT/jets.parquet"

step "2/10 inspect: per-channel statistics and event displays"
$PY -m gvae.data inspect "$OUT/jets.parquet" --out "$OUT/inspect"

step "3/10 convert to graph shards (kNN graphs, max 1024 nodes: no jet is truncated)"
$PY -m gvae.data convert "$OUT/jets.parquet" "$OUT/graphs" --max-nodes 1024 --overwrite

step "4/10 train the latent-only GVAE (configs/demo.yaml) and fit its prior p(z | type, pT)"
$PY -m gvae.train --config configs/demo.yaml --data "$OUT/graphs" --out "$OUT/run"

step "5/10 evaluate on the test split: reconstruction through the latent vs latent-only PCA; generation from the prior vs Gaussian-PCA, each beside its truth floor"
$PY -m gvae.evaluate --checkpoint "$OUT/run/best.pt" --data "$OUT/graphs" --out "$OUT/eval"

step "6/10 simulate $HELDOUT jets from the prior (python -m gvae.simulate) and inspect them"
$PY -m gvae.simulate --checkpoint "$OUT/run/best.pt" --process mixed --jets "$HELDOUT" --seed "$SEED" \
    --out "$OUT/simulated.parquet"
$PY -m gvae.data inspect "$OUT/simulated.parquet" --out "$OUT/simulated_inspect"

step "7/10 export the latent-decoder model (entry points reconstruct + simulate + simulate_counts, contract v2): TorchScript + AOTInductor, every entry point verified against eager"
$PY -m gvae.export --checkpoint "$OUT/run/best.pt" --out "$OUT/export" --format all --verify --max-batch 256 \
    --summary "$OUT/export/summary.json"

step "8/10 held-out jets (a new seed) as the .gvh hits file the C++ example reads"
$PY -m gvae.data generate --process mixed --jets "$HELDOUT" --seed $((SEED + 1000)) --out "$OUT/heldout.gvh"

step "9/10 build cmssw_example against the installed gvae package (find_package(gvae)) and run it"
bash cmssw_example/run_demo.sh "$OUT"

step "10/10 summary"
$PY scripts/demo_summary.py "$OUT" --seconds $(( $(date +%s) - t0 ))
