#!/usr/bin/env bash
# Data-parallel training on one machine: 1 process x 2 threads against 2 processes x 1 thread (mpirun) on
# graphs/mnist_ae1000.graph (784-1000-784, batch 128, all 60000 images), in interleaved repeats, with
# --profile's mean ms per training step and the part of it spent inside MPI (the gradient sums that
# backward did not hide). The 2-process runs go twice: with the sums overlapping backward (the default)
# and with HOURGLASS_MPI_OVERLAP=0 (every sum started just before the optimizer step), so that what the
# overlap hides is measured under the same load rather than estimated.
#
#   bench/mpi.sh [EPOCHS (default 3)] [REPEATS (default 3)]
#
# Writes bench/results/mpi.md (table, machine, commit) and bench/results/mpi.raw.txt (every run's output).
# Needs build/bin/hourglass built with MPI (scripts/build.sh), mpirun and MNIST (scripts/fetch-data.sh).
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
  run "serial-$r" 1 env HOURGLASS_MPI_OVERLAP=0 "${mpi[@]}"
done
{
  echo "== lscpu"
  lscpu
  echo "== mpirun --version"
  mpirun --version
} >>"$raw"

python3 - "$work" "$repeats" "$epochs" "$out/mpi.md" "$(git -C "$repo" rev-parse --short HEAD)" \
  "$(lscpu | sed -n 's/^Model name: *//p')" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, re, statistics, sys, datetime
work, repeats, epochs, path, commit, cpu, cores, load = sys.argv[1:]
repeats = int(repeats)

def run(name):
    epochs = [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
    text = open(f"{work}/{name}.out").read()
    total = float(re.search(r"^\s+([\d.]+)\s+100\.0%\s+total", text, re.M).group(1))
    mpi = re.search(r"^\s+([\d.]+)\s+[\d.]+%\s+inside MPI", text, re.M)
    return {"epoch_s": statistics.median(e["seconds"] for e in epochs[1:]), "step_ms": total,
            "mpi_ms": float(mpi.group(1)) if mpi else 0.0, "train_loss": epochs[-1]["train_loss"],
            "test_loss": epochs[-1]["test_loss"]}

rows = {kind: [run(f"{kind}-{r}") for r in range(1, repeats + 1)] for kind in ("one", "two", "serial")}
med = lambda kind, key: statistics.median(r[key] for r in rows[kind])
lines = [
    "# Data-parallel training: 1 process x 2 threads against 2 processes x 1 thread (mpirun)",
    "",
    f"{datetime.datetime.now():%Y-%m-%d %H:%M:%S}; commit {commit}; `bench/mpi.sh {epochs} {repeats}`; "
    f"graphs/mnist_ae1000.graph (784-1000-784 sigmoid AE, BCE, SGD 0.1/0.9, global batch 128, 60000 images); "
    f"{epochs} epochs per run, {repeats} interleaved repeats (1x2, 2x1, 2x1 without overlap); "
    f"s/epoch = median over epochs 2..{epochs} of a run. CPU: {cpu}, {cores} cores; load average at the end: "
    f"{load}. Open MPI over shared memory, `mpirun -np 2` (one rank bound to each core).",
    "",
    "step ms: --profile's mean wall time per training step; MPI ms: of that, inside MPI (waiting for the sums, "
    "and MPI's own work on them between steps). 2x1: sums started as each gradient is final; "
    "2x1 serial: HOURGLASS_MPI_OVERLAP=0, all sums started just before the optimizer step.",
    "",
    "| repeat | 1x2 s/epoch | 2x1 s/epoch | 2x1 serial s/epoch | ratio 2x1 / 1x2 | 1x2 step ms | 2x1 step ms | 2x1 MPI ms | 2x1 MPI share | serial step ms | serial MPI ms |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for r in range(repeats):
    a, b, c = rows["one"][r], rows["two"][r], rows["serial"][r]
    lines.append(f"| {r + 1} | {a['epoch_s']:.3f} | {b['epoch_s']:.3f} | {c['epoch_s']:.3f} | "
                 f"{b['epoch_s'] / a['epoch_s']:.3f} | {a['step_ms']:.3f} | {b['step_ms']:.3f} | {b['mpi_ms']:.3f} | "
                 f"{b['mpi_ms'] / b['step_ms']:.1%} | {c['step_ms']:.3f} | {c['mpi_ms']:.3f} |")
lines.append(f"| **median** | **{med('one', 'epoch_s'):.3f}** | **{med('two', 'epoch_s'):.3f}** | "
             f"**{med('serial', 'epoch_s'):.3f}** | **{med('two', 'epoch_s') / med('one', 'epoch_s'):.3f}** | "
             f"{med('one', 'step_ms'):.3f} | {med('two', 'step_ms'):.3f} | {med('two', 'mpi_ms'):.3f} | "
             f"{med('two', 'mpi_ms') / med('two', 'step_ms'):.1%} | {med('serial', 'step_ms'):.3f} | "
             f"{med('serial', 'mpi_ms'):.3f} |")
hidden = med("serial", "mpi_ms") - med("two", "mpi_ms")
lines += [
    "",
    f"Overlap: {med('two', 'mpi_ms'):.3f} ms per step inside MPI with it, {med('serial', 'mpi_ms'):.3f} without: "
    f"it {'hid' if hidden > 0 else 'added'} {abs(hidden):.3f} ms per step "
    f"({abs(hidden) / med('serial', 'mpi_ms'):.0%} of the serial sums' time).",
    "",
    "Losses after the last epoch (train / test), repeat 1: " + ", ".join(
        f"{k} {rows[k][0]['train_loss']:.6f} / {rows[k][0]['test_loss']:.6f}" for k in ("one", "two", "serial")) + ".",
    "",
    "Raw output of every run, lscpu and mpirun --version: bench/results/mpi.raw.txt.",
]
open(path, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
