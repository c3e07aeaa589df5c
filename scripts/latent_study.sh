#!/usr/bin/env bash
# The real-sized study of the latent-only GVAE (issue 14): >= 10k training and 5k test jets per type,
# latent scan 50x4 and 50x16; per latent size: training, `python -m gvae.evaluate` (reconstruction
# through the latent vs the latent-only PCA and the PCA given the true mask; generation from the prior
# vs the Gaussian-PCA generator with truth floors) and jets simulated from the prior. All tables land in
# one markdown file, $OUT/study.md (copy it to docs/evaluation/). Takes hours on 2 cores; not part of
# `make demo`. A tiny end-to-end check: STUDY_JETS=300 STUDY_EPOCHS=1 OUT=/tmp/study bash scripts/latent_study.sh
#   STUDY_JETS    jets generated in total, half top, half QCD (default 37500)
#   STUDY_DATA    an existing jet file to use instead of generating one (e.g. /work/study_data/jets.parquet)
#   STUDY_SPLIT   train,val,test fractions (default 0.6,0.1,0.3: 22500 train = 11.25k per type,
#                 3750 val, 11250 test = 5.6k per type)
#   STUDY_EPOCHS  training epochs per latent size (default 20)
#   STUDY_LATENTS latent dims L of the 50 x L scan (default "4 16")
#   STUDY_EVAL_JETS test jets evaluated per latent size (default: all)
#   STUDY_SIM_JETS  jets simulated from the prior per latent size (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-study_output}
JETS=${STUDY_JETS:-37500}
SPLIT=${STUDY_SPLIT:-0.6,0.1,0.3}
EPOCHS=${STUDY_EPOCHS:-20}
SEED=${STUDY_SEED:-11}
LATENTS=${STUDY_LATENTS:-"4 16"}
EVAL_JETS=${STUDY_EVAL_JETS:-}
SIM_JETS=${STUDY_SIM_JETS:-2000}
mkdir -p "$OUT"
CMDS="$OUT/commands.txt"
: > "$CMDS"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { echo "$*" >> "$CMDS"; "$@"; }
if [[ -n "${STUDY_DATA:-}" ]]; then
  [[ -f "$OUT/jets.parquet" ]] || ln -s "$(realpath "$STUDY_DATA")" "$OUT/jets.parquet"
  echo "# jets: $STUDY_DATA" >> "$CMDS"
elif [[ -f "$OUT/jets.parquet" ]]; then
  echo "# jets: existing $OUT/jets.parquet" >> "$CMDS"
else
  run $PY -m gvae.data generate --process mixed --jets "$JETS" --seed "$SEED" --out "$OUT/jets.parquet"
fi
[[ -f "$OUT/graphs/dataset.json" ]] || run $PY -m gvae.data convert "$OUT/jets.parquet" "$OUT/graphs" --max-nodes 1024 \
    --split "$SPLIT" --workers 2
for L in $LATENTS; do
  step "latent 50 x $L"
  run $PY -m gvae.train --config configs/demo.yaml --data "$OUT/graphs" --out "$OUT/run_ld$L" --epochs "$EPOCHS" \
      --set model.latent_dim="$L" --set training.patience=4 --resume
  run $PY -m gvae.evaluate --checkpoint "$OUT/run_ld$L/best.pt" --data "$OUT/graphs" --out "$OUT/eval_ld$L" \
      --seed "$SEED" --workers 2 ${EVAL_JETS:+--max-jets "$EVAL_JETS"}
  run $PY -m gvae.simulate --checkpoint "$OUT/run_ld$L/best.pt" --process mixed --jets "$SIM_JETS" --seed "$SEED" \
      --out "$OUT/simulated_ld$L.parquet" --no-progress
done
step "tables -> $OUT/study.md"
# shellcheck disable=SC2086
$PY scripts/latent_study_tables.py "$OUT" --latents $LATENTS --commands "$CMDS" --md "$OUT/study.md"
