#!/usr/bin/env bash
# UKD demo (issue 7): two tiny 3D-CNN teachers on the embedded synthetic-dark videos, one on the dark
# RGB stream and one on the gamma-enhanced stream, distilled into a single-stream (RGB) student
# through the on-disk teacher-logit cache. Prints the teachers' and the student's test accuracy.
# About a minute on a 2-core CPU.
set -euo pipefail
D="${DEMO_DIR:-runs/demo}/distill"
mkdir -p "$D"
DATA=(--dataset synthetic-dark --data-root "$D/data")
TRAIN=(--epochs "${EPOCHS:-10}" --batch-size 8 --lr 0.05 --scheduler cosine --seed 0 --force --format table)

echo "== teacher 1: tiny3d on the dark RGB stream"
lt train video "${DATA[@]}" --model tiny3d --stream rgb "${TRAIN[@]}" --out "$D/teacher-rgb"
echo "== teacher 2: tiny3d on the gamma-enhanced stream (gamma 1.8)"
lt train video "${DATA[@]}" --model tiny3d --stream gamma --gamma 1.8 "${TRAIN[@]}" --out "$D/teacher-gamma"
echo "== UKD: both teachers cached one at a time (4 views/video), RGB student trained on the cache"
lt distill ukd "${DATA[@]}" --teachers "$D/teacher-rgb,$D/teacher-gamma" --student tiny3d --stream rgb \
  --views 4 --combine mean-kl --ce-weight 0.5 --tau 4 --cache-dir "$D/cache" "${TRAIN[@]}" --out "$D/student-ukd"
