#!/usr/bin/env bash
# Data larger than the process's memory: one epoch of a 784-64-784 autoencoder on a generated float32 .npy of
# about 8.5 GB (MNIST's 60,000 training images tiled 45 times, 2.7M samples), streamed from its memory
# mapping, against the same network on an 80,000-sample slice of the same file that stays mapped whole
# (under the mapping's residency budget), median of three run around it. Records peak RSS (/usr/bin/time), samples per
# second, the CPU and the build. Not a test: it needs about 9 GB of disk and a few minutes.
#   bench/out_of_memory.sh [WORK_DIR]   (default: $TMPDIR or /tmp, /hourglass-oom; the data file is kept)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-${TMPDIR:-/tmp}/hourglass-oom}
hourglass=$repo/build/bin/hourglass
mkdir -p "$work"
data=$work/mnist_x45.npy
if [[ ! -f $data ]]; then
  echo "generating $data"
  /usr/bin/python3 - "$repo/data/mnist/train-images-idx3-ubyte" "$data" <<'PY'
import sys
import numpy as np
raw = np.fromfile(sys.argv[1], dtype=np.uint8, offset=16).reshape(60000, 784)
images = raw.astype(np.float32) / 255
out = np.lib.format.open_memmap(sys.argv[2], mode="w+", dtype=np.float32, shape=(45 * 60000, 784))
for k in range(45):  # one tile at a time: the generator itself never holds the file in memory
    out[k * 60000:(k + 1) * 60000] = images
out.flush()
PY
fi
graph=$work/oom.graph
cat >"$graph" <<GRAPH
data train = npy("$data")
input x : [784] <- image
code  = dense(x, 64) |> sigmoid
recon = dense(code, 784) |> sigmoid
loss = loss.bce(recon, x)
train { optimizer = adam(lr=0.001) batch = 256 epochs = 1 seed = 1 }
GRAPH

# "epoch 1  train loss ... 12.3s  45678 samples/s" -> samples/s; /usr/bin/time's maximum resident set in KB.
run() {
  local name=$1
  shift
  /usr/bin/time -f "maxrss_kb %M" "$hourglass" train "$graph" --threads 2 --out "$work/$name.safetensors" \
    --metrics "$work/$name.metrics.jsonl" --force "$@" >"$work/$name.out" 2>"$work/$name.time"
  local rate rss
  rate=$(grep -o '[0-9.]* samples/s' "$work/$name.out" | head -1 | cut -d' ' -f1)
  rss=$(grep -o 'maxrss_kb [0-9]*' "$work/$name.time" | cut -d' ' -f2)
  echo "$name $rate $rss"
}

{
  echo "# bench/out_of_memory.sh on $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) logical CPUs; memory: $(free -g | awk '/Mem:/ {print $2}') GB"
  echo "hourglass: $("$hourglass" --version)"
  echo "data: $data, $(du -h --apparent-size "$data" | cut -f1), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "run samples_per_second peak_rss_kb"
  # The streamed epoch between the in-memory ones, so that a change of load shows on both sides.
  run in_memory_1 --set data.train.count=80000
  run in_memory_2 --set data.train.count=80000
  run streamed
  # The same epoch with the file out of the page cache, as data larger than memory always is (needs root to
  # drop the cache; otherwise this run is warm too, and says so).
  if sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then echo "# page cache dropped"; else echo "# page cache NOT dropped (not root)"; fi
  run streamed_cold
  run in_memory_3 --set data.train.count=80000
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$work/report.txt"
median=$(awk '/^in_memory/ {print $2}' "$work/report.txt" | sort -n | sed -n 2p)
awk -v m="$median" '/^streamed/ {printf "median in-memory %.0f samples/s; %s %.0f samples/s (%.3f of in-memory), peak RSS %.0f MB\n", m, $1, $2, $2 / m, $3 / 1024}' \
  "$work/report.txt" | tee -a "$work/report.txt"
