#!/usr/bin/env bash
# Pruning demo (issue 4): prune the demo's digits ResNet-20 (`lt train ce --dataset digits-lt --model
# resnet20`, made by `make demo` in $DEMO_DIR/ce) to 70 % zero weights with the rate-distortion DP,
# then with masked fine-tuning, then LAMP for contrast; each table shows per-layer pruned fractions, predicted vs measured output
# distortion and test top-1 before/after. About a minute on an idle 2-core CPU.
set -euo pipefail
DEMO_DIR="${DEMO_DIR:-runs/demo}"
RUN="$DEMO_DIR/ce"
D="$DEMO_DIR/prune"
mkdir -p "$D"
if [ ! -f "$RUN/best.pt" ] && [ ! -f "$RUN/last.pt" ]; then
  echo "== no trained model in $RUN: training one (lt train ce --dataset digits-lt --model resnet20)" >&2
  lt train ce --dataset digits-lt --model resnet20 --epochs "${EPOCHS:-10}" --out "$RUN" --force --quiet --format table
fi
COMMON=(--dataset digits-lt --calib-size "${CALIB:-64}" --force --format table)
RD=(--grid "${GRID:-20}" --cache-dir "$D/cache")  # rd's curves; the baselines take none

echo "== lt prune --ratio 0.7 $RUN (method rd: curves + exact DP)"
lt prune --ratio 0.7 "$RUN" "${COMMON[@]}" "${RD[@]}" --out "$D/rd"
echo "== the same pruning, then ${FT_EPOCHS:-3} epochs of masked fine-tuning (curves come from the cache)"
lt prune --ratio 0.7 "$RUN" "${COMMON[@]}" "${RD[@]}" --finetune-epochs "${FT_EPOCHS:-3}" --out "$D/rd-ft"
echo "== the same budget with LAMP (one-shot)"
lt prune --ratio 0.7 "$RUN" --method lamp "${COMMON[@]}" --out "$D/lamp"
echo "pruned checkpoint: $D/rd/last.pt (loads anywhere a model is accepted); plots: $D/rd/curves.png, $D/rd/allocation.png"
