#!/usr/bin/env bash
# Tuning (issue #12, seeds 9000-9001 only): SBLD with another sensitivity at equal compute, against the
# baseline frontier already trained in docs/results/frontier-tuning/eq-compute-deep (preset deep, R = 120).
#
#   bash bench/frontier/tune-sensitivity.sh taylor     (SBLD --drop-sensitivity taylor)
#
# Each run takes the config the frontier gave PLD at budget 1 there (145 steps, warm-up 24, eval every 36): the
# taylor estimate costs no measurement, so SBLD's expected cost equals PLD's at the same steps (both match
# ρ_peak). The runs go to docs/results/frontier-tuning/eq-compute-deep-<name>/runs/sbld/b1/seed-<s>/, the layout
# bench/frontier/tuning-table.ts reads; the table is written beside them.
set -euo pipefail
cd "$(dirname "$0")/../.."

name=${1:?usage: bash bench/frontier/tune-sensitivity.sh taylor}
case "$name" in
  taylor) flags=(--drop-sensitivity taylor) ;;
  *) echo "unknown variant '$name' (taylor)" >&2; exit 2 ;;
esac
BASE=docs/results/frontier-tuning/eq-compute-deep
OUT=docs/results/frontier-tuning/eq-compute-deep-$name
mkdir -p "$OUT"
{ date -u; uptime; } | tee "$OUT/log.txt"
for seed in 9000 9001; do
  npm start --silent -- --preset deep --steps 145 --warmup-steps 24 --eval-every 36 --eval-batches 8 \
    --checkpoint-every 0 --sample-tokens 0 --seed "$seed" --drop sbld "${flags[@]}" --overwrite \
    --out "$OUT/runs/sbld/b1/seed-$seed" 2>&1 | tee -a "$OUT/log.txt"
done
{ date -u; uptime; } | tee -a "$OUT/log.txt"
npx tsx bench/frontier/tuning-table.ts --baseline "$BASE" --variant "$name=$OUT" | tee "$OUT/tuning-table.md"
