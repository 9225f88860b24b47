#!/bin/bash
# Fixed-seed losses before and after the bias + GELU epilogue: run.sh <tag> <worktree> runs GPT (preset tiny, 20
# steps) and the ViT (preset tiny, 20 steps) from that checkout into /tmp/speed-cmp/<tag>-*; then
# compare_losses.py prints the per-step losses side by side and the largest difference.
tag=$1; d=$2; cd $d
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-speed}; mkdir -p $XDG_RUNTIME_DIR
rm -rf /tmp/speed-cmp/$tag-*; mkdir -p /tmp/speed-cmp
timeout 600 npx tsx src/cli/train.ts --preset tiny --steps 20 --json --out /tmp/speed-cmp/$tag-gpt > /tmp/speed-cmp/$tag-gpt.txt 2>&1; echo "$tag gpt rc $?"
timeout 600 npx tsx src/cli/train.ts --task vit --preset tiny --steps 20 --json --out /tmp/speed-cmp/$tag-vit > /tmp/speed-cmp/$tag-vit.txt 2>&1; echo "$tag vit rc $?"
# With EXTRA=1 also SBLD's taylor mode with 2 micro-batches (reads the residual stream's gradients) and PLD,
# whose rescale (scale != 1) takes the unfused residual path.
if [ "$EXTRA" = 1 ]; then
timeout 600 npx tsx src/cli/train.ts --preset tiny --steps 16 --grad-accum 2 --drop-sensitivity taylor --drop-warmup-frac 0.25 --drop-remeasure-every 4 --json --out /tmp/speed-cmp/$tag-taylor > /tmp/speed-cmp/$tag-taylor.txt 2>&1; echo "$tag taylor rc $?"
timeout 600 npx tsx src/cli/train.ts --preset tiny --steps 20 --drop pld --json --out /tmp/speed-cmp/$tag-pld > /tmp/speed-cmp/$tag-pld.txt 2>&1; echo "$tag pld rc $?"
fi
