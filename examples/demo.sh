#!/usr/bin/env bash
# `make demo`: a tour of lt on embedded data (CPU, a few minutes). Re-runnable (writes with --force).
set -euo pipefail
export DEMO_DIR=${DEMO_DIR:-runs/demo}
mkdir -p "$DEMO_DIR"
cd "$(dirname "$0")/.."

banner() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

banner "lt train ce: ResNet-20 on the long-tailed digits (imbalance 10), Balanced Softmax"
lt train ce --dataset digits-lt --model resnet20 --loss balanced-softmax --epochs 15 --out "$DEMO_DIR/ce" --force

banner "lt train eval: the saved run, as JSON lines"
lt train eval "$DEMO_DIR/ce" --dataset digits-lt --format jsonl

for part in lcreg prune attack defense distill audio muse; do
  script="examples/demo_${part}.sh"
  if [ -f "$script" ]; then
    banner "$script"
    bash "$script"
  fi
done
