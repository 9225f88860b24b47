#!/bin/bash
# old = fbf9722 (git worktree /tmp/old), new = restructure; run.sh <tag> <worktree>, then compare_metrics.py
# usage: run.sh <tag> <worktree> ; runs the fixed-seed comparisons into /tmp/cmp/<tag>-*
tag=$1; d=$2; cd $d
export XDG_RUNTIME_DIR=/tmp/xdg-r
rm -rf /tmp/cmp/$tag-*
timeout 300 npx tsx src/cli/train.ts --steps 20 --json --out /tmp/cmp/$tag-gpt > /tmp/cmp/$tag-gpt.txt 2>&1; echo "$tag gpt rc $?"
timeout 300 npx tsx src/cli/train.ts --steps 12 --grad-accum 3 --json --out /tmp/cmp/$tag-gpt-ga3 > /tmp/cmp/$tag-gpt-ga3.txt 2>&1; echo "$tag gpt-ga3 rc $?"
timeout 300 npx tsx src/cli/train.ts --task vit --steps 20 --json --out /tmp/cmp/$tag-vit > /tmp/cmp/$tag-vit.txt 2>&1; echo "$tag vit rc $?"
timeout 300 npx tsx src/cli/train.ts --steps 16 --grad-accum 2 --drop-sensitivity taylor --drop-warmup-frac 0.25 --drop-remeasure-every 4 --json --out /tmp/cmp/$tag-taylor > /tmp/cmp/$tag-taylor.txt 2>&1; echo "$tag taylor rc $?"
