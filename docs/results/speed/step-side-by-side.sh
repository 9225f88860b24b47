#!/bin/bash
# Step time of $OLD (a worktree at the commit to compare with: the one before the bias + GELU epilogue for the
# step-small-{old,new} logs, fbf9722 for step-small-vs-fbf9722) and of this checkout,
# interleaved in one run: ROUNDS x (old, new) of `bench step --preset small`, each log starting with `uptime`
# (the load average: other work shares the 2 cores). Logs: $NAME-<tag>-<round>.txt (NAME defaults to step-small);
# STEPS timed steps per run (default 10).
OLD=${OLD:?set OLD to the old worktree}; NEW=$(pwd); OUTDIR=$NEW/docs/results/speed; ROUNDS=${ROUNDS:-3}; NAME=${NAME:-step-small}; STEPS=${STEPS:-10}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-speed}; mkdir -p $XDG_RUNTIME_DIR
for r in $(seq 1 $ROUNDS); do
  for tag in old new; do
    d=$OLD; [ $tag = new ] && d=$NEW
    f=$OUTDIR/$NAME-$tag-$r.txt
    (cd $d && echo "commit $(git rev-parse --short HEAD)" && uptime && npx tsx bench/main.ts step --preset small --warmup 2 --steps $STEPS --max-seconds 60 && uptime) > $f 2>&1
    echo "$tag $r: $(grep -A2 'ms/step' $f | tail -1)"
  done
done
