#!/usr/bin/env bash
# How much room the f16 golden tests' tolerance has, and that it catches a wiring fault: the golden GPT and ViT
# tests under f16 with the slack factor (test/helpers/precision.ts, HALF_SLACK) at 4 (as committed), 1 and 0.5,
# then at 4 with src/ops/half-weights.ts mutated so a weight's f16 copy is never cast again after its first
# cast. Restores both files. Log: docs/results/precision/f16-tolerances.txt
set -u
cd "$(dirname "$0")/../../.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg}
mkdir -p "$XDG_RUNTIME_DIR"
log=docs/results/precision/f16-tolerances.txt
helper=test/helpers/precision.ts
weights=src/ops/half-weights.ts
cp "$helper" /tmp/precision.ts.bak
cp "$weights" /tmp/half-weights.ts.bak
restore() { cp /tmp/precision.ts.bak "$helper"; cp /tmp/half-weights.ts.bak "$weights"; }
trap restore EXIT
run() {
  echo "== $1"
  npx vitest run --config test/vitest.config.ts --project f16 test/gpt.test.ts test/vit.test.ts 2>&1 \
    | sed 's/\x1b\[[0-9;]*m//g' | grep -E 'AssertionError|Tests  |worst tensor' | cut -c1-220
}
{
  echo "$(date -u) on $(git rev-parse --short HEAD)"
  for s in 4 1 0.5; do
    sed -i "s/^export const HALF_SLACK = .*/export const HALF_SLACK = $s;/" "$helper"
    run "HALF_SLACK = $s"
  done
  restore
  sed -i 's/if (copy.castAt !== version) {/if (copy.castAt === -1) {/' "$weights"
  run "HALF_SLACK = 4, weight copies never cast again (mutation)"
} > "$log"
cat "$log"
