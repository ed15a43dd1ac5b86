#!/usr/bin/env bash
# MuSe 2022 demo on synthetic-muse (official layout, generated into $DEMO_DIR): GRU + self-attention
# and the LSTM baseline on humor (ROC-AUC over pooled segments), then late fusion of both runs.
set -euo pipefail
DEMO_DIR=${DEMO_DIR:-runs/demo}
OUT="$DEMO_DIR/muse"
DATA="$OUT/synthetic-muse"
COMMON=(--task humor --dataset synthetic-muse --data-root "$DATA" --epochs 8 --seeds 2 --d-model 32 --predict --force --format table)

echo "== lt train muse --model gru-sa (humor, 2 seeds, best on devel)"
lt train muse "${COMMON[@]}" --model gru-sa --out "$OUT/humor-gru-sa"

echo "== lt train muse --model lstm (official baseline)"
lt train muse "${COMMON[@]}" --model lstm --out "$OUT/humor-lstm"

echo "== late fusion (mean of the two runs' predictions)"
lt train muse --task humor --late-fusion "$OUT/humor-gru-sa,$OUT/humor-lstm" --fusion mean \
  --out "$OUT/humor-fused" --force --format table

echo "submission-shaped test predictions: $OUT/humor-fused/predictions_test.csv"
head -3 "$OUT/humor-fused/predictions_test.csv"
