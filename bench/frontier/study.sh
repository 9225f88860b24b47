#!/usr/bin/env bash
# The frontier study of issue #12 (docs/layer-dropping.md, "The frontier study": protocol and results).
#
#   bash bench/frontier/study.sh [gpt] [gpt-fresh] [vit] [robust]   (default: gpt, vit, robust, in that order)
#   PLAN_ONLY=1 bash bench/frontier/study.sh ...           (print each stage's runs and time estimate only)
#
# Stages (outputs under docs/results/frontier/<stage>/: report.md, results.json, plots, calibration.json and the
# raw per-run logs runs/<policy>/b<budget>/seed-<s>/{config.json,metrics.jsonl,frontier-run.json}):
#   gpt     GPT on the Brown corpus, preset deep24 (24 layers), reference R = 100 steps, seeds 2001-2003,
#           baseline budgets 0.5,1,1.5,2 (50-200 steps), none/pld/sbld at budget 1.
#   vit     ViT on Fashion-MNIST, preset deep (12 layers), R = 300 steps, seeds 2001-2003, the same budgets.
#   gpt-fresh  the gpt stage on fresh seeds 2004-2006, baseline budgets 1,1.5 (every dropping run there ended
#           between them), with the gpt stage's calibrated layer share (the same 129-step plan); not in the default.
#   robust  GPT preset deep, R = 60 steps (shorter, so 8 seeds fit in under an hour), seeds 3001-3008, baseline
#           budgets 0.5,1,1.5: SBLD's lists and final loss over 8 seeds against PLD's worst seed.
# SBLD runs with the online taylor sensitivity (--drop-sensitivity taylor): chosen on the tuning seeds, where the
# skip_loss measurement's cost ((L+1)·M forwards, paid out of the run's steps) ate the saving at these lengths.
# Seeds: the final study uses 2001-2003 and 3001-3008 only; tuning used seeds >= 9000
# (docs/results/frontier-tuning.md). Nothing is tuned on the test split.
#
# Cost (estimates from the measured step times behind compare's DEEP_COSTS / VIT_DEEP_COSTS, 2 idle cores,
# lavapipe; `PLAN_ONLY=1` prints them again): gpt about 1:23, vit about 1:05, robust about 0:53, plus a
# one-minute calibration per stage (what each took is in docs/layer-dropping.md). Each stage fits the issue's
# "about two hours"; run the stages in separate sessions if needed. A killed stage resumes where it stopped: every call
# passes --reuse, which keeps finished runs trained with the same config and code. Commit the code before
# starting (a run's stamp holds the commit; uncommitted edits under src/, kernels/, bench/ make runs not
# reusable after they are committed).
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=docs/results/frontier
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(gpt vit robust)
plan=()
[ "${PLAN_ONLY:-0}" = 1 ] && plan=(--plan-only)

run() {
  local stage=$1
  shift
  echo "== frontier study, stage $stage: npm run bench -- frontier $* ${plan[*]}"
  local t0=$SECONDS
  if [ ${#plan[@]} -gt 0 ]; then
    npm run --silent bench -- frontier "$@" --out "$OUT/$stage" "${plan[@]}"
    return
  fi
  mkdir -p "$OUT"
  # Wall-clock numbers need the machine to themselves: the load average before and after goes in the log.
  { date -u; uptime; } | tee "$OUT/$stage.log.txt"
  npm run --silent bench -- frontier "$@" --out "$OUT/$stage" --plain --reuse 2>&1 | tee -a "$OUT/$stage.log.txt"
  { echo "== stage $stage took $(( (SECONDS - t0) / 60 )) min"; date -u; uptime; } | tee -a "$OUT/$stage.log.txt"
}

for s in "${stages[@]}"; do
  case "$s" in
    gpt) run gpt --preset deep24 --steps 100 --seeds 3 --seed 2001 --policies none,pld,sbld --baseline-budgets 0.5,1,1.5,2 --budgets 1 --drop-sensitivity taylor ;;
    gpt-fresh) run gpt-fresh --preset deep24 --steps 100 --seeds 3 --seed 2004 --policies none,pld,sbld --baseline-budgets 1,1.5 --budgets 1 --drop-sensitivity taylor --layer-share 0.9555671158828266 --precision f32 ;;
    vit) run vit --task vit --preset deep --steps 300 --seeds 3 --seed 2001 --policies none,pld,sbld --baseline-budgets 0.5,1,1.5,2 --budgets 1 --drop-sensitivity taylor ;;
    robust) run robust --preset deep --steps 60 --seeds 8 --seed 3001 --policies none,pld,sbld --baseline-budgets 0.5,1,1.5 --budgets 1 --drop-sensitivity taylor ;;
    *) echo "unknown stage '$s' (gpt, gpt-fresh, vit, robust)" >&2; exit 2 ;;
  esac
done
