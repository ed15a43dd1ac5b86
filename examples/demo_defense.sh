#!/usr/bin/env bash
# Defenses on the embedded digits: a CE model, an MDL model, FACM on the CE model, then an honest
# robustness evaluation of all three (FACM under the paper's protocol AND the end-to-end attack).
set -euo pipefail
D="${DEMO_DIR:-runs/demo}/defense"
EPS="16/255"
mkdir -p "$D"

echo "== CE baseline (smallcnn, 3 epochs)" >&2
lt train ce --dataset digits --model smallcnn --epochs 3 --out "$D/ce" --force --quiet --format table

echo "== MDL (two dropout passes, lambda 1, label mask)" >&2
lt train mdl --dataset digits --model smallcnn --epochs 3 --lr 0.1 --lambda 1 --dropout 0.5 \
  --out "$D/mdl" --force --quiet --format table

echo "== FACM on the CE model (FA heads on features.3, features.7 + CMPD; FGSM half-batches)" >&2
lt defend facm --backbone "$D/ce" --dataset digits --adv-attack fgsm --eps "$EPS" --epochs 2 --lr 0.01 \
  --out "$D/facm" --force --quiet --format table

# Attack budgets cut for a quick demo (the defaults: PGD 20 steps x 2 restarts, APGD 100 steps,
# APGD-T 9 targets, Square 1000 queries); add --autoattack for torchattacks' AutoAttack as the reference.
for m in ce mdl facm; do
  sur=mdl; [ "$m" = mdl ] && sur=ce
  echo "== lt defend eval $m (transfer from $sur)" >&2
  lt defend eval "$D/$m" --dataset digits --eps "$EPS" --limit 50 --steps 10 --restarts 1 --apgd-steps 20 \
    --apgd-targets 3 --square-queries 50 --curve-eps "0,16/255,0.5" --surrogate "$D/$sur" --out "$D/eval-$m" \
    --force --quiet --format table
done
echo "curves: $D/eval-*/robustness_curve.png" >&2
