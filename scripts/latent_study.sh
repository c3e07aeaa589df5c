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
#   STUDY_OT_EPOCHS second stage (default 2; 0 = none): run_ldL's last epoch resumed into run_ldL_ot with
#                 the Sinkhorn transport loss and ordered_weight 0.1 for this many more epochs (same
#                 optimiser and schedule), evaluated and simulated as "L_ot" (docs/evaluation/latent_decoder.md,
#                 Round 8: -6 % median EMD at 50 x 16 after one such epoch, where 9 more Chamfer epochs gave -2 %)
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
OT_EPOCHS=${STUDY_OT_EPOCHS:-2}
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
evaluate() {  # evaluate and simulate $OUT/run_ld$1/$2 as latent label $1
  run $PY -m gvae.evaluate --checkpoint "$OUT/run_ld$1/$2" --data "$OUT/graphs" --out "$OUT/eval_ld$1" \
      --seed "$SEED" --workers 2 ${EVAL_JETS:+--max-jets "$EVAL_JETS"}
  run $PY -m gvae.simulate --checkpoint "$OUT/run_ld$1/$2" --process mixed --jets "$SIM_JETS" --seed "$SEED" \
      --out "$OUT/simulated_ld$1.parquet" --no-progress
}
epoch_of() { $PY -c "import sys, torch; print(torch.load(sys.argv[1], map_location='cpu', weights_only=False)['epoch'])" "$1"; }
LABELS=""
for L in $LATENTS; do
  step "latent 50 x $L"
  run $PY -m gvae.train --config configs/demo.yaml --data "$OUT/graphs" --out "$OUT/run_ld$L" --epochs "$EPOCHS" \
      --set model.latent_dim="$L" --set training.patience=4 --resume
  evaluate "$L" best.pt
  LABELS="$LABELS $L"
  if (( OT_EPOCHS > 0 )); then
    step "latent 50 x $L, second stage: Sinkhorn loss for $OT_EPOCHS epochs"
    # the second stage continues the first's last epoch (optimiser, schedule, RNG) with the other loss; its
    # validation loss is on another scale, so patience is off and its last epoch (final.pt) is the one evaluated
    if [[ ! -f "$OUT/run_ld${L}_ot/last.pt" ]]; then
      mkdir -p "$OUT/run_ld${L}_ot"
      run cp "$OUT/run_ld$L/last.pt" "$OUT/run_ld${L}_ot/last.pt"
      epoch_of "$OUT/run_ld$L/last.pt" > "$OUT/run_ld${L}_ot/first_stage_epoch"
    fi
    first=$(cat "$OUT/run_ld${L}_ot/first_stage_epoch")
    done_epochs=$(epoch_of "$OUT/run_ld${L}_ot/last.pt")
    total=$(( first + OT_EPOCHS > EPOCHS ? first + OT_EPOCHS : EPOCHS ))   # a finished first stage: schedule stretched
    if (( first + OT_EPOCHS > done_epochs )); then
      run $PY -m gvae.train --config configs/demo.yaml --data "$OUT/graphs" --out "$OUT/run_ld${L}_ot" --epochs "$total" \
          --set model.latent_dim="$L" --set training.patience=0 --set training.loss.set_loss=sinkhorn \
          --set training.loss.ordered_weight=0.1 --resume --stop-after-epochs $(( first + OT_EPOCHS - done_epochs ))
    fi
    # the prior is fitted at the end of training on best.pt (chosen on the first stage's loss scale): refit it
    # on the evaluated last epoch
    run $PY -m gvae.train --fit-prior-only --checkpoint "$OUT/run_ld${L}_ot/last.pt" --data "$OUT/graphs" \
        --out "$OUT/run_ld${L}_ot/final.pt"
    evaluate "${L}_ot" final.pt
    LABELS="$LABELS ${L}_ot"
  fi
done
step "tables -> $OUT/study.md"
# shellcheck disable=SC2086
$PY scripts/latent_study_tables.py "$OUT" --latents $LABELS --commands "$CMDS" --md "$OUT/study.md"
