#!/usr/bin/env bash
# An ablation on the robust stage's seeds (3001-3008; analysis, not tuning: nothing here changes the study's
# settings): one policy variant trained with the config the frontier gave the dropping policies there (73 steps,
# warm-up 24, eval every 18), read against that stage's baseline with tuning-table.ts.
#
#   bash bench/frontier/ablate-robust.sh pld-no-rescale    (PLD without its 1/p rescaling: SBLD's setting)
#   bash bench/frontier/ablate-robust.sh sbld-pld-curve    (SBLD on PLD's time curve 1 - exp(-γt) instead of pwegd)
#   bash bench/frontier/ablate-robust.sh pld-pwegd-curve   (PLD on SBLD's pwegd time curve instead of its own)
#
# Runs go to docs/results/frontier/robust-ablation-<name>/runs/<policy>/b1/seed-<s>/; the table beside them.
set -euo pipefail
cd "$(dirname "$0")/../.."

variants="pld-no-rescale | sbld-pld-curve | pld-pwegd-curve"
name=${1:?usage: bash bench/frontier/ablate-robust.sh $variants}
case "$name" in
  pld-no-rescale) policy=pld; flags=(--drop pld --drop-sensitivity taylor --drop-rescale none) ;;
  sbld-pld-curve) policy=sbld; flags=(--drop sbld --drop-sensitivity taylor --drop-curve pld) ;;
  pld-pwegd-curve) policy=pld; flags=(--drop pld --drop-sensitivity taylor --drop-pld-curve pwegd) ;;
  *) echo "unknown variant '$name' ($variants)" >&2; exit 2 ;;
esac
BASE=docs/results/frontier/robust
OUT=docs/results/frontier/robust-ablation-$name
mkdir -p "$OUT"
{ date -u; uptime; } | tee "$OUT/log.txt"
for seed in 3001 3002 3003 3004 3005 3006 3007 3008; do
  npm start --silent -- --preset deep --steps 73 --warmup-steps 24 --eval-every 18 --eval-batches 8 \
    --checkpoint-every 0 --sample-tokens 0 --seed "$seed" "${flags[@]}" --overwrite \
    --out "$OUT/runs/$policy/b1/seed-$seed" 2>&1 | grep -v '^Warning: maxDynamic' | tee -a "$OUT/log.txt"
done
{ date -u; uptime; } | tee -a "$OUT/log.txt"
npx tsx bench/frontier/tuning-table.ts --baseline "$BASE" --variant "$name=$OUT" | tee "$OUT/table.md"
