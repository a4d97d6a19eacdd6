#!/usr/bin/env bash
# Speed on a GPU machine: checks which GPU backend node-llama-cpp can use here, then runs the speed
# bench with the pair offloaded to it. On a machine without a usable GPU it says so and exits 1
# (nothing is downloaded or compiled: node-llama-cpp's prebuilt CUDA/Vulkan binaries come with
# `npm ci` as optional packages).
#
#   bench/gpu-check.sh [PAIR_DIR]     # default .cache/bench-1b (npm run forge -- --bench-1b), else .cache/bench-pair
set -euo pipefail
cd "$(dirname "$0")/.."
pair="${1:-}"
if [ -z "$pair" ]; then
  if [ -f .cache/bench-1b/dpo-lora.gguf ]; then pair=.cache/bench-1b; else pair=.cache/bench-pair; fi
fi
backend="$(NODE_LLAMA_CPP_SKIP_DOWNLOAD=true node --input-type=module -e '
  import { getLlama, LlamaLogLevel } from "node-llama-cpp";
  const llama = await getLlama({ gpu: "auto", build: "never", logLevel: LlamaLogLevel.disabled });
  console.log(llama.gpu === false ? "cpu" : llama.gpu);
  await llama.dispose();
')"
if [ "$backend" = "cpu" ]; then
  echo "gpu-check: no usable GPU backend here (node-llama-cpp found no working prebuilt CUDA, Vulkan or Metal binary); nothing to measure" >&2
  exit 1
fi
echo "gpu-check: backend $backend, pair $pair"
npx tsx bench/main.ts speed --pair "$pair" --gpu "$backend" --results-name "speed-gpu-$backend"
