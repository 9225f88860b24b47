#!/usr/bin/env bash
# The lavapipe measurements behind docs/results/precision/README.md, one after the other on an otherwise idle
# machine (each log starts with `uptime`): the f32-against-f16 step pairs (what the adapter rule follows), the
# step bench of preset small in each precision (per-kind profile: what the casts cost), and the kernels bench
# (f32 and f16 GEMM rows, the casts, both LayerNorm kernel families).
# Run from the repository root: bash docs/results/precision/measure.sh [NAME...]   (only those logs, e.g.
# precision-pairs-small step-small-f32 step-small-f16)
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=docs/results/precision
only=" $* "
run() {
  local name=$1
  shift
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || return 0
  { uptime; echo "\$ npm run bench -- $*"; npm run --silent bench -- "$@" 2>&1 | grep -v '^Warning: maxDynamic'; uptime; } > "$OUT/$name.txt"
  echo "$name: done"
}
run precision-pairs-small precision --pairs 20
run step-small-f32 step --preset small --precision f32
run step-small-f16 step --preset small --precision f16
run kernels kernels
