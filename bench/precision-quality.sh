#!/usr/bin/env bash
# f16 mixed precision against f32 at equal steps: preset small, every layer run (--drop none), the default 1000
# steps, three seeds, each variant from the same seed (same initialisation and data order). Variants: f32
# (`npm start --precision f32`); f16 (every matmul f16, the head included) and f16-head-f32 (GPT's tied head
# kept f32: what `--precision f16` does by default), both through bench/precision-f16-run.ts, which sets the
# head's precision explicitly. Each run's folder (config.json, metrics.jsonl) lands in $OUT/<variant>-seed<seed>/;
# then bench/precision-quality.ts writes the paired tables. Quality, not speed: the runs need not have the
# machine to themselves.
# TASK=vit does the same for the ViT (preset small, Fashion-MNIST, the task's default 600 steps unless STEPS
# says): f32 and f16-head-f32 (`npm start --task vit --precision f16`, whose classifier stays f32 by default).
# Run: bash bench/precision-quality.sh [OUT=docs/results/precision/quality] [SEEDS="101 102 103"] [STEPS=1000]
#      [VARIANTS="f32 f16 f16-head-f32"] [TASK=gpt|vit]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-docs/results/precision/quality}
SEEDS=${SEEDS:-"101 102 103"}
TASK=${TASK:-gpt}
case "$TASK" in
  gpt) STEPS=${STEPS:-1000}; VARIANTS=${VARIANTS:-"f32 f16 f16-head-f32"} ;;
  vit) STEPS=${STEPS:-600}; VARIANTS=${VARIANTS:-"f32 f16-head-f32"} ;;
  *) echo "unknown TASK $TASK (gpt | vit)" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
for seed in $SEEDS; do
  for p in $VARIANTS; do
    dir="$OUT/$p-seed$seed"
    if [ -f "$dir/metrics.jsonl" ] && grep -q '"type":"summary"' "$dir/metrics.jsonl"; then echo "$dir: done already"; continue; fi
    echo "== $p seed $seed ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
    if [ "$TASK" = vit ]; then
      case "$p" in
        f32|f16-head-f32) npm start --silent -- --task vit --preset small --drop none --steps "$STEPS" --seed "$seed" \
               --precision "${p%%-*}" --out "$dir" --overwrite --checkpoint-every 0 --json > "$dir.log.txt" 2>&1 ;;
        *) echo "variant $p: the ViT runs f32 and f16-head-f32 only" >&2; exit 2 ;;
      esac || { tail -5 "$dir.log.txt"; exit 1; }
      tail -1 "$dir.log.txt" | cut -c1-200
      continue
    fi
    case "$p" in
      f32) npm start --silent -- --preset small --drop none --steps "$STEPS" --seed "$seed" --precision f32 \
             --out "$dir" --overwrite --sample-tokens 0 --checkpoint-every 0 --json > "$dir.log.txt" 2>&1 ;;
      f16) npx tsx bench/precision-f16-run.ts f16 "$seed" "$STEPS" "$dir" > "$dir.log.txt" 2>&1 ;;
      f16-head-f32) npx tsx bench/precision-f16-run.ts f32 "$seed" "$STEPS" "$dir" > "$dir.log.txt" 2>&1 ;;
      *) echo "unknown variant $p (f32 | f16 | f16-head-f32)" >&2; exit 2 ;;
    esac || { tail -5 "$dir.log.txt"; exit 1; }
    tail -1 "$dir.log.txt" | cut -c1-200
  done
done
npx tsx bench/precision-quality.ts "$OUT" | tee "$OUT/summary.txt"
