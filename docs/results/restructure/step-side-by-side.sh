#!/bin/bash
# Step time before (fbf9722, worktree $OLD) and after (this checkout) the restructure, interleaved in one run on an
# otherwise idle machine: ROUNDS x (old, new) for each preset. Logs: step-side-by-side-<preset>-<tag>-<round>.txt
OLD=${OLD:-/tmp/old}; NEW=$(pwd); OUTDIR=$NEW/docs/results/restructure; ROUNDS=${ROUNDS:-3}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg}; mkdir -p $XDG_RUNTIME_DIR
for preset in small deep; do
  for r in $(seq 1 $ROUNDS); do
    for tag in old new; do
      d=$OLD; [ $tag = new ] && d=$NEW
      (cd $d && uptime && npx tsx bench/main.ts step --preset $preset --warmup 2 --max-seconds 40) > $OUTDIR/step-side-by-side-$preset-$tag-$r.txt 2>&1
      echo "$preset $tag $r: $(grep -A2 'ms/step' $OUTDIR/step-side-by-side-$preset-$tag-$r.txt | tail -1)"
    done
  done
done
