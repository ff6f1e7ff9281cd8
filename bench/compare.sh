#!/usr/bin/env bash
# Interleaved hourglass-vs-PyTorch benchmark on the 784-1000-784 sigmoid autoencoder (graphs/mnist_ae1000.graph,
# bench/pytorch_ae.py is the same model, data and recipe). Runs A B A B ... (hourglass, then PyTorch) for R
# repeats in one go, so both sides see the same machine load, and reports per repeat the median seconds per
# epoch of each side and their ratio, then the median of the ratios, the losses (so speed never comes from
# doing less work), peak RSS and start-up/overhead time.
#
#   bench/compare.sh [-e EPOCHS=2] [-r REPEATS=3] [-t THREADS=2] [-l LIMIT] [-o OUT.md]
#
# PyTorch runs in its best configuration for this machine (measured here): Debian's interpreter, OpenBLAS with
# OPENBLAS_NUM_THREADS=T and OMP_WAIT_POLICY=PASSIVE; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for the
# PyTorch command only. hourglass runs with the environment as it is. Install the PyTorch side with
# bench/install.sh and the data with scripts/fetch-data.sh first.
# The full issue-5 benchmark (more models, start-up, GEMM floor, chart) is bench/run.sh; this script stays
# for the quick single-model comparison.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
epochs=2 repeats=3 threads=2 limit="" out="$repo/bench/results/ae1000.md"
while getopts "e:r:t:l:o:h" opt; do
  case $opt in
    e) epochs=$OPTARG ;;
    r) repeats=$OPTARG ;;
    t) threads=$OPTARG ;;
    l) limit=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '2,15p' "$0"; exit 0 ;;
  esac
done

hourglass=$repo/build/bin/hourglass
graph=$repo/graphs/mnist_ae1000.graph
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null || { echo "compare: run bench/install.sh first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "compare: /usr/bin/time missing (bench/install.sh installs it)" >&2; exit 1; }
[ -f "$repo/data/mnist/train-images-idx3-ubyte" ] || { echo "compare: run scripts/fetch-data.sh first" >&2; exit 1; }

work=$(mktemp -d /tmp/hourglass-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
limit_args=()
[ -n "$limit" ] && limit_args=(--limit "$limit")

# run_hourglass I: one training run; retries while the binary is missing or failing (others may be rebuilding it).
run_hourglass() {
  local i=$1 attempt
  for attempt in 1 2 3 4 5 6; do
    rm -f "$work/hg$i.jsonl"
    if [ -x "$hourglass" ] && (cd "$repo" && /usr/bin/time -f "%M %e" -o "$work/hg$i.time" \
          "$hourglass" train "$graph" --set "epochs=$epochs" --threads "$threads" "${limit_args[@]}" \
          --out "$work/hg$i.safetensors" --metrics "$work/hg$i.jsonl") >"$work/hg$i.log" 2>&1 &&
       [ "$(wc -l <"$work/hg$i.jsonl")" -eq "$epochs" ]; then
      return 0
    fi
    echo "compare: hourglass run $i failed (attempt $attempt), retrying in 60s:" >&2
    tail -3 "$work/hg$i.log" >&2 || true
    sleep 60
  done
  echo "compare: hourglass kept failing, giving up" >&2
  exit 1
}

run_pytorch() {
  local i=$1
  (cd "$repo" && /usr/bin/time -f "%M %e" -o "$work/pt$i.time" \
     env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" OMP_WAIT_POLICY=PASSIVE \
     "$py" bench/pytorch_ae.py --epochs "$epochs" --threads "$threads" "${limit_args[@]}") \
     >"$work/pt$i.json" 2>"$work/pt$i.log" || { cat "$work/pt$i.log" >&2; exit 1; }
}

for i in $(seq 1 "$repeats"); do
  echo "compare: repeat $i/$repeats: hourglass" >&2
  run_hourglass "$i"
  echo "compare: repeat $i/$repeats: pytorch" >&2
  run_pytorch "$i"
done

mkdir -p "$(dirname "$out")"
"$py" - "$work" "$repeats" "$epochs" "$threads" "${limit:-all}" "$out" <<'EOF'
import json, os, platform, statistics, subprocess, sys, time

work, repeats, epochs, threads, limit, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
skip = 1 if epochs >= 3 else 0  # the first epoch is warm-up only when there are enough epochs to drop it

def timefile(path):
    rss_kb, wall = open(path).read().split()[-2:]
    return int(rss_kb) / 1024.0, float(wall)

rows = []
for i in range(1, repeats + 1):
    hg = [json.loads(l) for l in open(f"{work}/hg{i}.jsonl") if l.strip()]
    pt = json.loads(open(f"{work}/pt{i}.json").read().strip().splitlines()[-1])
    hg_rss, hg_wall = timefile(f"{work}/hg{i}.time")
    pt_rss, pt_wall = timefile(f"{work}/pt{i}.time")
    hg_s = [e["seconds"] for e in hg]
    pt_s = pt["epoch_seconds"]
    hg_med, pt_med = statistics.median(hg_s[skip:]), statistics.median(pt_s[skip:])
    samples = pt["steps_per_epoch"] * pt["batch"]
    rows.append(dict(hg_med=hg_med, pt_med=pt_med, ratio=hg_med / pt_med, hg_sps=samples / hg_med, pt_sps=samples / pt_med,
                     hg_train=hg[-1]["train_loss"], hg_test=hg[-1].get("test_loss"),
                     pt_train=pt["final_train_loss"], pt_test=pt["test_loss"],
                     hg_rss=hg_rss, pt_rss=pt_rss, pt_rss_self=pt["peak_rss_mb"],
                     hg_over=hg_wall - sum(hg_s), pt_over=pt_wall - sum(pt_s), pt_start=pt["startup_seconds"],
                     hg_all=hg_s, pt_all=pt_s, pt=pt))

med = lambda k: statistics.median(r[k] for r in rows)
pt0 = rows[0]["pt"]
blas = pt0["blas"]
cpu = "?"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"): cpu = line.split(":", 1)[1].strip(); break
    flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
    cpu += " (" + ("avx512f" if "avx512f" in flags else "no avx512") + ", " + ("avx512_bf16" if "avx512_bf16" in flags else "no bf16") + ")"
except Exception:
    pass
try:
    load = open("/proc/loadavg").read().split()[:3]
except OSError:
    load = ["?"]
f = lambda v, p=3: "n/a" if v is None else f"{v:.{p}f}"

lines = []
lines.append(f"# hourglass vs PyTorch: 784-1000-784 sigmoid AE, BCE, SGD 0.1/0.9, batch 128, MNIST")
lines.append("")
lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')}; {epochs} epochs per run, {repeats} interleaved repeats (hourglass, then PyTorch), "
             f"{threads} threads, samples: {limit}; medians over {'epochs 2..' + str(epochs) if skip else 'all epochs'} of each run. "
             f"CPU: {cpu}; load average at the end: {' '.join(load)}.")
lines.append("")
lines.append(f"PyTorch {pt0['torch_version']} (Debian python3-torch, /usr/bin/python3), BLAS_INFO={blas.get('blas_info')}, "
             f"OpenBLAS core `{blas.get('openblas_corename', '?')}` ({blas.get('openblas_config', '?')}, {blas.get('openblas_num_threads', '?')} threads), "
             f"env OPENBLAS_NUM_THREADS={threads} OMP_WAIT_POLICY=PASSIVE, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.")
lines.append("")
lines.append("ratio = hourglass seconds / PyTorch seconds (below 1: hourglass is faster).")
lines.append("")
lines.append("| repeat | hourglass s/epoch | PyTorch s/epoch | ratio | hourglass samples/s | PyTorch samples/s | hourglass epochs (s) | PyTorch epochs (s) |")
lines.append("|---:|---:|---:|---:|---:|---:|---|---|")
for i, r in enumerate(rows, 1):
    lines.append(f"| {i} | {r['hg_med']:.3f} | {r['pt_med']:.3f} | {r['ratio']:.3f} | {r['hg_sps']:.0f} | {r['pt_sps']:.0f} | "
                 f"{', '.join(f'{s:.2f}' for s in r['hg_all'])} | {', '.join(f'{s:.2f}' for s in r['pt_all'])} |")
lines.append(f"| **median** | **{med('hg_med'):.3f}** | **{med('pt_med'):.3f}** | **{med('ratio'):.3f}** | {med('hg_sps'):.0f} | {med('pt_sps'):.0f} | | |")
lines.append("")
lines.append(f"| per run (median over repeats) | hourglass | PyTorch |")
lines.append("|---|---:|---:|")
lines.append(f"| train loss after epoch {epochs} | {f(med('hg_train'), 5)} | {f(med('pt_train'), 5)} |")
if all(r["hg_test"] is not None for r in rows):
    lines.append(f"| test loss after epoch {epochs} | {f(med('hg_test'), 5)} | {f(med('pt_test'), 5)} |")
lines.append(f"| peak RSS, MB (/usr/bin/time %M) | {med('hg_rss'):.0f} | {med('pt_rss'):.0f} |")
lines.append(f"| wall time outside the training epochs, s (start-up + test eval + checkpoint/exit) | {med('hg_over'):.2f} | {med('pt_over'):.2f} |")
lines.append(f"| start-up to the first step, s (process start, import, data, model) | n/a | {med('pt_start'):.2f} |")
lines.append("")
lines.append("Losses per repeat (train / test): " + "; ".join(
    f"{i}: hourglass {f(r['hg_train'], 5)} / {f(r['hg_test'], 5)}, PyTorch {f(r['pt_train'], 5)} / {f(r['pt_test'], 5)}"
    for i, r in enumerate(rows, 1)) + ".")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
print(f"written to {out}", file=sys.stderr)
EOF
