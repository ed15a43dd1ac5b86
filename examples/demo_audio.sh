#!/usr/bin/env bash
# SSBPR demo: generate synthetic snores (released layout), cross-validate the CNN with the subject
# split, then label two clips with the final model. About a minute on a laptop CPU.
set -euo pipefail

DEMO_DIR="${DEMO_DIR:-runs/demo}"
OUT="$DEMO_DIR/audio"
DATA="$OUT/synthetic-snore"
mkdir -p "$OUT"

echo "== lt audio ssbpr train: CNN on synthetic-snore, 3-fold subject-wise split ==" >&2
lt audio ssbpr train --dataset synthetic-snore --data-root "$DATA" --subjects 6 --clips 3 \
    --model cnn --cv subject --folds 3 --epochs 8 --batch-size 8 --lr 2e-3 --sample-rate 8000 \
    --cache-dir "$OUT/cache" --out "$OUT/ssbpr-cnn" --force --format table

echo "== lt audio ssbpr predict: two clips (JSON lines) ==" >&2
lt audio ssbpr predict "$DATA/male/000/01-1-4.wav" "$DATA/female/001/02-1-0.wav" \
    --checkpoint "$OUT/ssbpr-cnn" --cache-dir "$OUT/cache"

echo "== lt audio features: MFCC statistics of every clip (cached for the next run) ==" >&2
lt audio features "$DATA" --features stats --sample-rate 8000 --cache-dir "$OUT/cache" \
    --out "$OUT/features" --force --format table
