#!/usr/bin/env bash
# A shell pipeline on lt's data output: train -> evaluate -> jq / csv.
#   OUT=runs/pipeline EPOCHS=5 bash examples/pipeline.sh
set -euo pipefail
OUT=${OUT:-runs/pipeline}
EPOCHS=${EPOCHS:-5}
MODEL=${MODEL:-smallcnn}
mkdir -p "$OUT"

# 1. train (stdout is data: one JSON object; people-facing progress goes to stderr, silenced here)
lt --quiet train ce --dataset digits-lt --model "$MODEL" --loss balanced-softmax --epochs "$EPOCHS" \
   --out "$OUT/bs" --force --format json > "$OUT/train.json"

# 2. evaluate the saved run dir; JSON lines piped through jq (python if jq is absent)
lt train eval "$OUT/bs" --dataset digits-lt --format jsonl > "$OUT/eval.jsonl"
if command -v jq >/dev/null; then
  jq -r 'select(.split == "test") | "test top1=\(.top1) many=\(.many) medium=\(.medium) few=\(.few)"' "$OUT/eval.jsonl"
else
  python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(f"test top1={r[\"top1\"]} many={r[\"many\"]} medium={r[\"medium\"]} few={r[\"few\"]}")' "$OUT/eval.jsonl"
fi

# 3. the same as CSV, e.g. for a spreadsheet
lt train eval "$OUT/bs" --dataset digits-lt --format csv > "$OUT/eval.csv"
cut -d, -f1-5 "$OUT/eval.csv"
