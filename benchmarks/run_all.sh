#!/usr/bin/env bash
# `make bench`: every benchmark in turn (each prints its own ratio / JSON line).
set -euo pipefail
cd "$(dirname "$0")/.."
for f in benchmarks/*.py; do
  name=$(basename "$f" .py)
  [ "$name" = "__init__" ] && continue
  printf '\n== python -m benchmarks.%s\n' "$name"
  python -m "benchmarks.$name"
done
