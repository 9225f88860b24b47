#!/usr/bin/env bash
# A change that should not move a single number of f16 training: the same 30-step f16 run (preset small, SBLD,
# seed 7) with the code at BASE (a git worktree in /tmp/same-losses-worktree) and with this checkout, then every
# step's loss, every sensitivity measurement and layer plan, and the final evaluation compared exactly.
# Run: bash docs/results/precision/check-same-losses.sh BASE [LOG]   (log: docs/results/precision/LOG, by default
# same-losses.txt)
set -euo pipefail
cd "$(dirname "$0")/../../.."
base=${1:?usage: check-same-losses.sh BASE_REVISION [LOG]}
log=docs/results/precision/${2:-same-losses.txt}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg}
mkdir -p "$XDG_RUNTIME_DIR"
wt=/tmp/same-losses-worktree
git worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
git worktree add -q "$wt" "$base"
ln -s "$PWD/node_modules" "$wt/node_modules"
for side in base head; do
  dir=$PWD; [ "$side" = base ] && dir=$wt
  (cd "$dir" && npx tsx src/cli/train.ts --preset small --drop sbld --steps 30 --seed 7 --precision f16 \
    --out "/tmp/same-losses-$side" --overwrite --sample-tokens 0 --checkpoint-every 0 --json > "/tmp/same-losses-$side.log" 2>&1)
done
git worktree remove --force "$wt"
{
  echo "base $(git rev-parse --short "$base"), head $(git rev-parse --short HEAD) + working tree ($(git status --short | wc -l) changed paths)"
  python3 - <<'PY'
import json
def lines(side):
    rows = [json.loads(l) for l in open(f'/tmp/same-losses-{side}/metrics.jsonl')]
    keep = ('step', 'loss', 'val_loss', 'values', 'block', 'allow', 'layers', 'loss_scale')
    return [{k: r[k] for k in keep if k in r} | {'type': r.get('type', 'step')} for r in rows if r.get('type') in (None, 'eval', 'sensitivity')]
a, b = lines('base'), lines('head')
print(f"{len(a)} step, sensitivity and eval lines at base, {len(b)} at head; identical: {a == b}")
for r in [x for x in b if x['type'] != 'step'] + [x for x in b if x['type'] == 'step'][-1:]:
    print(' ', json.dumps(r))
PY
} | tee "$log"
