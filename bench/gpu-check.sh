#!/usr/bin/env bash
# The kernels on a real GPU, in one prepared run: the whole test suite (every kernel against its float64
# reference, every backward by finite differences, the golden GPT and ViT; the engine tests again under f16 where
# the adapter has shader-f16: vitest project f16) on the machine's best adapter, then
# the kernel (f32 and, where the adapter has shader-f16, f16 rows), GEMM-variant, attention-variant,
# training-step (f32 and f16 at the GPT-2-small shape), f32-against-f16 and layer-skip benchmarks. The
# precision part's verdict is what the adapter rule in src/runtime/choice.ts should follow for this GPU.
#
# Made for the `device` tool's machine (NVIDIA, Dawn's Vulkan backend), which has no Node.js. Prepare here, once:
#   echo /.gpu/ >> .git/info/exclude; echo /.gl/ >> .git/info/exclude; mkdir -p .gpu .gl
#   xz -T2 -6 -c "$(command -v node)" > .gpu/node.xz
#   tar -cf - --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
#     --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='node_modules/@typescript' \
#     --exclude='node_modules/typescript' node_modules | xz -T2 -6 > .gpu/node_modules.tar.xz
#   (cd .gl && apt-get download libvulkan1)      # the Vulkan loader (amd64)
# then run `bash bench/gpu-check.sh` there with .gpu and .gl carried. `bash bench/gpu-check.sh compare [flags]`
# runs the layer-dropping comparison there instead (`npm run bench -- compare --plain [flags]`, into
# /tmp/gpu-compare) and copies its report, results.json and plots to $OUT. Logs land in $OUT (default /tmp/gpu-check),
# one file per part; each part has its own time limit so one hang cannot eat the machine's time. The set-up
# tests (bootstrap, and the README example through npx) are left out: that machine has node but no npm.
set -u
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
t0=$(date +%s)

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
mkdir -p /tmp/node/bin
xz -dc .gpu/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node
export PATH=/tmp/node/bin:$PATH
[ -d node_modules ] || tar -xJf .gpu/node_modules.tar.xz
export XDG_RUNTIME_DIR
XDG_RUNTIME_DIR=$(mktemp -d)
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  echo "node $(node --version); $(nproc) cores; unpacked in $(( $(date +%s) - t0 )) s"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# part NAME LIMIT_S COMMAND...: runs COMMAND into $OUT/NAME.log and prints its exit status and last lines.
part() {
  local name=$1 limit=$2
  shift 2
  local s=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name: exit $? in $(( $(date +%s) - s )) s"
  tail -n 4 "$OUT/$name.log"
}
tsx=node_modules/.bin/tsx
if [ "${1:-check}" = compare ]; then
  shift
  rm -f "$OUT/machine.txt" # printed above; the device tool brings back 8 files at most
  part compare 420 $tsx bench/main.ts compare --plain --out /tmp/gpu-compare "$@"
  cp /tmp/gpu-compare/report.md /tmp/gpu-compare/results.json /tmp/gpu-compare/*.svg "$OUT"/ 2>/dev/null
  echo "total $(( $(date +%s) - t0 )) s"
  exit 0
fi
part tests 180 node node_modules/vitest/vitest.mjs run --config test/vitest.config.ts --exclude test/bootstrap.test.ts --exclude test/library.test.ts
part kernels 60 $tsx bench/main.ts kernels --quick
part matmul 50 $tsx bench/variants/matmul.ts --quick
part attention 40 $tsx bench/variants/attention.ts --quick
# (One log per part, 8 files with machine.txt: what the device tool brings back at most.)
gpt2small="--n-layer 12 --n-embd 768 --n-head 12 --seq-len 256 --batch-size 8"
part steps 110 bash -c "$tsx bench/main.ts step --preset small --max-seconds 15 && $tsx bench/main.ts step --preset deep --max-seconds 15 && $tsx bench/main.ts step $gpt2small --max-seconds 15 && $tsx bench/main.ts step $gpt2small --max-seconds 15 --precision f16"
part precision 60 $tsx bench/main.ts precision --pairs 10 $gpt2small
part skip 40 $tsx bench/main.ts skip --quick
echo "total $(( $(date +%s) - t0 )) s"
