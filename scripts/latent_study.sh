#!/usr/bin/env bash
# The real-sized study of the latent-only GVAE (issue 14): >= 10k training and 5k test jets per type,
# latent scan 50x4 and 50x16, reconstruction EMD against the latent-only PCA, and jets simulated
# from the prior. Takes hours on 2 cores; not part of `make demo`. Results land in $OUT; copy the
# report tables into docs/evaluation/.
#   STUDY_JETS   jets generated in total, half top, half QCD (default 37500)
#   STUDY_SPLIT  train,val,test fractions (default 0.6,0.1,0.3: 22500 train = 11.25k per type,
#                3750 val, 11250 test = 5.6k per type)
#   STUDY_EPOCHS training epochs per latent size (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-study_output}
JETS=${STUDY_JETS:-37500}
SPLIT=${STUDY_SPLIT:-0.6,0.1,0.3}
EPOCHS=${STUDY_EPOCHS:-20}
SEED=${STUDY_SEED:-11}
LATENTS=${STUDY_LATENTS:-"4 16"}
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
[[ -f "$OUT/jets.parquet" ]] || $PY -m gvae.data generate --process mixed --jets "$JETS" --seed "$SEED" --out "$OUT/jets.parquet"
[[ -f "$OUT/graphs/dataset.json" ]] || $PY -m gvae.data convert "$OUT/jets.parquet" "$OUT/graphs" --max-nodes 1024 \
    --split "$SPLIT" --workers 2
for L in $LATENTS; do
  step "latent 50 x $L"
  $PY -m gvae.train --config configs/demo.yaml --data "$OUT/graphs" --out "$OUT/run_ld$L" --epochs "$EPOCHS" \
      --set model.latent_dim="$L" --set training.patience=4 --resume
  $PY -m gvae.evaluate --checkpoint "$OUT/run_ld$L/best.pt" --data "$OUT/graphs" --out "$OUT/eval_ld$L" --no-plots
  $PY -m gvae.simulate --checkpoint "$OUT/run_ld$L/best.pt" --process mixed --jets 2000 --seed "$SEED" \
      --out "$OUT/simulated_ld$L.parquet" --no-progress
done
step "reports"
for L in $LATENTS; do echo "== latent 50 x $L"; cat "$OUT/eval_ld$L/report.md"; done
