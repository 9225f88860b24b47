#!/bin/bash
# step-cpu.ts in the old checkout ($OLD) and this one, interleaved: ROUNDS x (old, new), 10 timed steps each,
# `uptime` before each. One log: step-cpu-side-by-side.txt.
OLD=${OLD:?set OLD to the old worktree}; NEW=$(pwd); OUT=$NEW/docs/results/speed/step-cpu-side-by-side.txt; ROUNDS=${ROUNDS:-3}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-speed}; mkdir -p $XDG_RUNTIME_DIR
echo "old $(cd $OLD && git rev-parse --short HEAD), new $(git rev-parse --short HEAD)" > $OUT
for r in $(seq 1 $ROUNDS); do
  for tag in old new; do
    d=$OLD; [ $tag = new ] && d=$NEW
    echo "$tag $r $(uptime)" >> $OUT
    (cd $d && npx tsx $NEW/docs/results/speed/step-cpu.ts 10 2 2>/dev/null | grep '^{') | sed "s/^/$tag $r /" >> $OUT
  done
done
python3 - "$OUT" <<'PY' | tee -a $OUT
import json, sys, statistics as st
runs = {'old': [], 'new': []}
for line in open(sys.argv[1]):
    tag, r, rest = line.split(' ', 2)
    if rest.startswith('{'): runs[tag].append(json.loads(rest))
for k in ('median_wall_ms', 'median_cpu_ms'):
    o = st.median(x[k] for x in runs['old']); n = st.median(x[k] for x in runs['new'])
    print(f"{k}: old {[x[k] for x in runs['old']]} -> median {o}; new {[x[k] for x in runs['new']]} -> median {n}; old/new = {o / n:.3f}")
print('dispatches per step: old', runs['old'][0]['dispatches_per_step'], 'new', runs['new'][0]['dispatches_per_step'])
PY
