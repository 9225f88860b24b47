#!/usr/bin/env bash
# f16 mixed precision against f32 at equal steps: preset small, every layer run (--drop none), the default 1000
# steps, three seeds, each precision from the same seed (same initialisation and data order). Each run's folder
# (config.json, metrics.jsonl) lands in $OUT/<precision>-seed<seed>/; then bench/precision-quality.ts writes the
# paired table. Quality, not speed: the runs need not have the machine to themselves. VARIANTS adds
# f16-head-f32 (f16 with the output head kept f32: bench/precision-head-f32.ts), an ablation of where f16 costs.
# Run: bash bench/precision-quality.sh [OUT=docs/results/precision/quality] [SEEDS="101 102 103"] [STEPS=1000]
#      [VARIANTS="f32 f16"]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-docs/results/precision/quality}
SEEDS=${SEEDS:-"101 102 103"}
STEPS=${STEPS:-1000}
VARIANTS=${VARIANTS:-"f32 f16"}
mkdir -p "$OUT"
for seed in $SEEDS; do
  for p in $VARIANTS; do
    dir="$OUT/$p-seed$seed"
    if [ -f "$dir/metrics.jsonl" ] && grep -q '"type":"summary"' "$dir/metrics.jsonl"; then echo "$dir: done already"; continue; fi
    echo "== $p seed $seed ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
    if [ "$p" = f16-head-f32 ]; then
      npx tsx bench/precision-head-f32.ts "$seed" "$STEPS" "$dir" > "$dir.log.txt" 2>&1 || { tail -5 "$dir.log.txt"; exit 1; }
    else
      npm start --silent -- --preset small --drop none --steps "$STEPS" --seed "$seed" --precision "$p" \
        --out "$dir" --overwrite --sample-tokens 0 --checkpoint-every 0 --json > "$dir.log.txt" 2>&1 || { tail -5 "$dir.log.txt"; exit 1; }
    fi
    tail -1 "$dir.log.txt" | cut -c1-200
  done
done
npx tsx bench/precision-quality.ts "$OUT" | tee "$OUT/summary.txt"
