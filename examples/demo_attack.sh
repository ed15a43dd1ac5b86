#!/usr/bin/env bash
# Transfer attacks on digits (CPU, about a minute): MI-FGSM, DTA and DTA+FTM crafted on the demo's
# ResNet-20 (`lt train ce --dataset digits-lt --model resnet20`, in $DEMO_DIR/ce, made by `make demo`
# before this script; trained here if missing) and scored on a second, differently built model
# (SmallCNN trained on the balanced digits). Adversarial PNGs land in $DEMO_DIR/attack-*/images.
set -euo pipefail
DEMO_DIR="${DEMO_DIR:-runs/demo}"
EPS="${EPS:-16/255}"
LIMIT="${LIMIT:-100}"

if [ ! -e "$DEMO_DIR/ce/best.pt" ] && [ ! -e "$DEMO_DIR/ce/last.pt" ]; then
  lt train ce --dataset digits-lt --model resnet20 --out "$DEMO_DIR/ce" --force --quiet --format table
fi
if [ ! -e "$DEMO_DIR/victim/best.pt" ] && [ ! -e "$DEMO_DIR/victim/last.pt" ]; then
  lt train ce --dataset digits --model smallcnn --epochs 5 --out "$DEMO_DIR/victim" --force --quiet --format table
fi

run_attack() {  # name, then the attack and its flags
  local name="$1"; shift
  echo "== $name: $* (eps $EPS, $LIMIT test images)"
  lt attack "$@" --surrogate "$DEMO_DIR/ce" --victims "$DEMO_DIR/victim" --dataset digits --eps "$EPS" \
     --limit "$LIMIT" --batch-size 50 --out "$DEMO_DIR/attack-$name" --force --quiet --format table
}

run_attack mifgsm mifgsm
run_attack dta dta --inner-steps 3
run_attack dta-ftm dta --inner-steps 3 --ftm

echo "== transfer table (victim = $DEMO_DIR/victim; rates are fractions in [0, 1])"
printf "%-10s %10s %8s %15s\n" attack clean_acc asr asr_on_correct
for name in mifgsm dta dta-ftm; do
  awk -F, -v name="$name" '{ sub(/\r$/, "") } NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
    NR > 1 && $col["role"] == "victim" { printf "%-10s %10.3f %8.3f %15.3f\n", name, $col["clean_acc"], $col["asr"], $col["asr_on_correct"] }' \
    "$DEMO_DIR/attack-$name/metrics.csv"
done
echo "== re-scoring the saved DTA images behind JPEG (quality 75)"
lt attack eval --adv-dir "$DEMO_DIR/attack-dta" --victims "$DEMO_DIR/victim" --defense jpeg --quiet --format table
