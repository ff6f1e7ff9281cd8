#!/usr/bin/env bash
# The whole issue-5 benchmark in one command: hourglass against Debian's PyTorch on the 784-1000-784 sigmoid
# AE, its denoising variant, a 784-1000-1000-1000-10 classifier, a small conv AE, the VAE of PyTorch's VAE
# example (graphs/gallery/vae.graph) and batch-1/16 runs, each in
# interleaved repeats (hourglass, PyTorch, hourglass, ...), plus start-up time, peak RSS, the losses on both
# sides, and oneDNN's own throughput on the same GEMM/convolution shapes (f32 and, where oneDNN can, bf16).
#
#   bench/install.sh && bench/run.sh [--epochs 3] [--repeats 3] [--threads 2] [--quick] [--help for more]
#
# Writes bench/results/benchmark.md (table + machine description), benchmark.png (bar chart) and
# benchmark.json (raw measurements). Builds bench/gemm_floor.cpp into build-bench/ (its own CMake tree, so it
# never touches build/), needs build/bin/hourglass (scripts/build.sh) and MNIST (scripts/fetch-data.sh).
# About 15-20 minutes at the defaults on the 2-core VM; --quick takes about 3. The orchestration, options
# and measurement method are documented in bench/run.py; bench/compare.sh is the older single-model
# comparison (784-1000-784 only) and still works.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=/usr/bin/python3
for arg in "$@"; do
  if [ "$arg" = -h ] || [ "$arg" = --help ]; then exec "$py" "$repo/bench/run.py" --help; fi
done
"$py" -c 'import torch, numpy, matplotlib' 2>/dev/null || { echo "bench: run bench/install.sh first" >&2; exit 1; }
[ -f "$repo/data/mnist/train-images-idx3-ubyte" ] || { echo "bench: run scripts/fetch-data.sh first" >&2; exit 1; }

build=$repo/build-bench
if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DHOURGLASS_TESTS=OFF >/dev/null
fi
cmake --build "$build" --target gemm_floor >/dev/null

exec "$py" "$repo/bench/run.py" --gemm-floor "$build/bin/gemm_floor" "$@"
