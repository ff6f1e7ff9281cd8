#!/usr/bin/env bash
# Data-parallel training on one machine: 1 process x 2 threads against 2 processes x 1 thread (mpirun) on
# graphs/mnist_ae1000.graph (784-1000-784, batch 128, all 60000 images), in interleaved repeats, with
# --profile's mean ms per training step and the part of it spent waiting for the other rank (gradient sums
# that backward did not hide), plus bench/allreduce_floor.c: the sums alone, with nothing to hide behind.
#
#   bench/mpi.sh [EPOCHS (default 3)] [REPEATS (default 3)]
#
# Writes bench/results/mpi.md (table, machine, commit) and bench/results/mpi.raw.txt (every run's output).
# Needs build/bin/hourglass built with MPI (scripts/build.sh), mpicc and MNIST (scripts/fetch-data.sh).
# Seconds per epoch are medians over epochs 2.. of a run (the first includes oneDNN's kernel generation),
# then the median over repeats; ratios are of those medians, all from this one invocation.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
epochs=${1:-3} repeats=${2:-3}
tool=$repo/build/bin/hourglass
out=$repo/bench/results
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[[ -x $tool ]] || { echo "bench: build build/bin/hourglass first (scripts/build.sh)" >&2; exit 1; }
[[ -f $repo/data/mnist/train-images-idx3-ubyte ]] || { echo "bench: run scripts/fetch-data.sh first" >&2; exit 1; }
mpi=(mpirun -np 2)  # one slot per core: Open MPI binds each rank to its own core
if [[ $(id -u) == 0 ]]; then mpi+=(--allow-run-as-root); fi
mpicc -O2 "$repo/bench/allreduce_floor.c" -o "$work/allreduce_floor"

raw=$out/mpi.raw.txt
: >"$raw"
# run NAME THREADS [LAUNCHER...]: one training run, its output appended to the raw log.
run() {
  local name=$1 threads=$2
  shift 2
  local command=("$@" "$tool" train "$repo/graphs/mnist_ae1000.graph" --set epochs="$epochs" --threads "$threads"
    --profile --force --out "$work/$name.safetensors" --metrics "$work/$name.jsonl")
  echo "== $name: ${command[*]}" >>"$raw"
  "${command[@]}" >"$work/$name.out" 2>&1
  cat "$work/$name.out" >>"$raw"
}
for ((r = 1; r <= repeats; ++r)); do
  run "one-$r" 2
  run "two-$r" 1 "${mpi[@]}"
  # The floor right after the run it is compared with, under the same load; the ring algorithm is the one
  # the runner asks for (runtime/distributed/mpi.cpp).
  echo "== floor-$r: ${mpi[*]} allreduce_floor" >>"$raw"
  OMPI_MCA_coll_libnbc_iallreduce_algorithm=1 "${mpi[@]}" "$work/allreduce_floor" | tee -a "$raw" >"$work/floor-$r.out"
done

python3 - "$work" "$repeats" "$epochs" "$out/mpi.md" "$(git -C "$repo" rev-parse --short HEAD)" \
  "$(lscpu | sed -n 's/^Model name: *//p')" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, re, statistics, sys, datetime
work, repeats, epochs, path, commit, cpu, cores, load = sys.argv[1:]
repeats = int(repeats)

def run(name):
    epochs = [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
    text = open(f"{work}/{name}.out").read()
    total = float(re.search(r"^\s+([\d.]+)\s+100\.0%\s+total", text, re.M).group(1))
    wait = re.search(r"^\s+([\d.]+)\s+[\d.]+%\s+waiting for the other", text, re.M)
    return {"epoch_s": statistics.median(e["seconds"] for e in epochs[1:]), "step_ms": total,
            "wait_ms": float(wait.group(1)) if wait else 0.0, "train_loss": epochs[-1]["train_loss"],
            "test_loss": epochs[-1]["test_loss"]}

one = [run(f"one-{r}") for r in range(1, repeats + 1)]
two = [run(f"two-{r}") for r in range(1, repeats + 1)]
floors = [float(re.search(r"([\d.]+) ms per step", open(f"{work}/floor-{r}.out").read()).group(1))
          for r in range(1, repeats + 1)]
floor = statistics.median(floors)
med = lambda rows, key: statistics.median(r[key] for r in rows)
lines = [
    "# Data-parallel training: 1 process x 2 threads against 2 processes x 1 thread (mpirun)",
    "",
    f"{datetime.datetime.now():%Y-%m-%d %H:%M:%S}; commit {commit}; `bench/mpi.sh {epochs} {repeats}`; "
    f"graphs/mnist_ae1000.graph (784-1000-784 sigmoid AE, BCE, SGD 0.1/0.9, global batch 128, 60000 images); "
    f"{epochs} epochs per run, {repeats} interleaved repeats; s/epoch = median over epochs 2..{epochs} of a run. "
    f"CPU: {cpu}, {cores} cores; load average at the end: {load}. Open MPI 4.1 over shared memory, one rank bound to each core.",
    "",
    "step ms: --profile's mean wall time per training step; wait ms: of that, waiting for the other rank "
    "(gradient sums not hidden behind backward).",
    "",
    "| repeat | 1x2 s/epoch | 2x1 s/epoch | ratio 2x1/1x2 | 1x2 step ms | 2x1 step ms | 2x1 wait ms | wait share |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for r, (a, b) in enumerate(zip(one, two), 1):
    lines.append(f"| {r} | {a['epoch_s']:.3f} | {b['epoch_s']:.3f} | {b['epoch_s'] / a['epoch_s']:.3f} | "
                 f"{a['step_ms']:.3f} | {b['step_ms']:.3f} | {b['wait_ms']:.3f} | {b['wait_ms'] / b['step_ms']:.1%} |")
a_s, b_s = med(one, "epoch_s"), med(two, "epoch_s")
lines.append(f"| **median** | **{a_s:.3f}** | **{b_s:.3f}** | **{b_s / a_s:.3f}** | {med(one, 'step_ms'):.3f} | "
             f"{med(two, 'step_ms'):.3f} | {med(two, 'wait_ms'):.3f} | "
             f"{med(two, 'wait_ms') / med(two, 'step_ms'):.1%} |")
lines += [
    "",
    f"The sums alone (bench/allreduce_floor.c: the model's four gradients, 3.1 MB each for the weights, "
    f"MPI_Iallreduce tested in a loop, nothing to hide behind), run after each 2-process run: "
    f"{', '.join(f'{x:.3f}' for x in floors)}, median **{floor:.3f} ms per step**. Training waited "
    f"{med(two, 'wait_ms'):.3f} ms of it per step, so backward hid about "
    f"{max(0.0, 1 - med(two, 'wait_ms') / floor):.0%} of the sums' time.",
    "",
    f"Losses after epoch {epochs} (train / test): 1x2 {one[0]['train_loss']:.6f} / {one[0]['test_loss']:.6f}, "
    f"2x1 {two[0]['train_loss']:.6f} / {two[0]['test_loss']:.6f}.",
    "",
    "Raw output of every run: bench/results/mpi.raw.txt.",
]
open(path, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
