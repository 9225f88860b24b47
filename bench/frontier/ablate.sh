#!/usr/bin/env bash
# A policy variant trained against a finished frontier stage (analysis or tuning: nothing here changes the study's
# settings). For each seed of the stage, the variant trains with the config the frontier gave PLD at budget 1
# there (task, preset, steps, warm-up, eval cadence, precision: read from runs/pld/b1/seed-<s>/; at budget 1 the
# taylor SBLD runs get the same), and tuning-table.ts reads it against the stage's baseline frontier.
#
#   bash bench/frontier/ablate.sh STAGE_DIR VARIANT      e.g. docs/results/frontier/gpt sbld-shuffled
#
# Variants (all with the taylor sensitivity, the study's setting):
#   pld              PLD as in the study (with STEPS: at another step count)
#   taylor           SBLD as in the study (a tuning folder trained with skip_loss as its base)
#   sbld-shuffled    SBLD with its measured sensitivities permuted across layers (seeded)
#   sbld-no-lists    SBLD without block / allow lists: keep probabilities from the sensitivities alone
#   sbld-pld-curve   SBLD on PLD's time curve 1 - exp(-γt) instead of pwegd
#   pld-no-rescale   PLD without its 1/p rescaling (SBLD's setting)
#   pld-pwegd-curve  PLD on SBLD's pwegd time curve instead of its own
#   sbld-remeasure   SBLD taking its (free) taylor estimate again every 10 steps, not once at T_pre
#   sbld-alpha2      SBLD with α = 2: keep probabilities follow the sensitivities more steeply
#   sbld-backward    SBLD with the backward-only skip (--drop-scope backward; give STEPS from the planner)
#
# STEPS=T trains T steps instead of the stage's, with the warm-up and eval cadence scaled as the frontier scales
# them (for a stage whose planner was given a wrong layer share). Runs go to $OUT/runs/<policy>/b1/seed-<s>/
# (default OUT: STAGE_DIR-ablation-VARIANT), the table to $OUT/table.md and the console to $OUT/log.txt (appended,
# with the date and load average before and after), so two variants can share one OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."

variants="pld | taylor | sbld-shuffled | sbld-no-lists | sbld-pld-curve | pld-no-rescale | pld-pwegd-curve | sbld-remeasure | sbld-alpha2 | sbld-backward"
usage="usage: bash bench/frontier/ablate.sh STAGE_DIR ($variants)"
base=${1:?$usage}
name=${2:?$usage}
base=${base%/}
case "$name" in
  pld) policy=pld; flags=(--drop pld --drop-sensitivity taylor) ;;
  taylor) policy=sbld; flags=(--drop sbld --drop-sensitivity taylor) ;;
  sbld-shuffled) policy=sbld; flags=(--drop sbld --drop-sensitivity taylor --drop-shuffle-sensitivities true) ;;
  sbld-no-lists) policy=sbld; flags=(--drop sbld --drop-sensitivity taylor --drop-use-lists false) ;;
  sbld-pld-curve) policy=sbld; flags=(--drop sbld --drop-sensitivity taylor --drop-curve pld) ;;
  pld-no-rescale) policy=pld; flags=(--drop pld --drop-sensitivity taylor --drop-rescale none) ;;
  pld-pwegd-curve) policy=pld; flags=(--drop pld --drop-sensitivity taylor --drop-pld-curve pwegd) ;;
  sbld-remeasure) policy=sbld; flags=(--drop sbld --drop-sensitivity taylor --drop-remeasure-every 10) ;;
  sbld-alpha2) policy=sbld; flags=(--drop sbld --drop-sensitivity taylor --drop-alpha 2) ;;
  sbld-backward) policy=sbld; flags=(--drop sbld --drop-sensitivity taylor --drop-scope backward) ;;
  *) echo "unknown variant '$name' ($variants)" >&2; exit 2 ;;
esac
configs=("$base"/runs/pld/b1/seed-*/config.json)
if [ ! -f "${configs[0]}" ]; then
  echo "$base has no finished PLD runs at budget 1 (runs/pld/b1/seed-*/config.json): give a frontier --out folder" >&2
  exit 2
fi
OUT=${OUT:-$base-ablation-$name}
mkdir -p "$OUT"
{ date -u; uptime; echo "variant $name${STEPS:+, STEPS=$STEPS}"; } | tee -a "$OUT/log.txt"
for config in "${configs[@]}"; do
  # The frontier's per-run settings, as command-line flags; the precision the run resolved (its metrics summary),
  # f32 for runs from before f16 existed, so a variant is not trained in another precision than its stage.
  read -r -a run_flags < <(node -e '
    const fs = require("fs");
    const c = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const T = Number(process.argv[2] || c.steps);
    const scaled = (n) => Math.max(1, Math.round((n * T) / c.steps));
    const summary = fs.readFileSync(process.argv[1].replace(/config\.json$/, "metrics.jsonl"), "utf8").split("\n")
      .filter((l) => l.includes("\"summary\"")).map((l) => JSON.parse(l)).pop();
    console.log([`--task ${c.task ?? "gpt"}`, `--preset ${c.preset}`, `--steps ${T}`, `--warmup-steps ${scaled(c.warmupSteps)}`,
      `--eval-every ${scaled(c.evalEvery)}`, `--eval-batches ${c.evalBatches}`, `--seed ${c.seed}`,
      `--precision ${summary?.precision ?? "f32"}`].join(" "));' "$config" "${STEPS:-}")
  seed=$(basename "$(dirname "$config")")
  npm start --silent -- "${run_flags[@]}" --checkpoint-every 0 --sample-tokens 0 "${flags[@]}" --overwrite \
    --out "$OUT/runs/$policy/b1/$seed" 2>&1 | grep --line-buffered -v '^Warning: maxDynamic' | tee -a "$OUT/log.txt"
done
{ date -u; uptime; } | tee -a "$OUT/log.txt"
npx tsx bench/frontier/tuning-table.ts --baseline "$base" --variant "$name=$OUT" | tee "$OUT/table.md"
