#!/usr/bin/env bash
# Data-parallel training under mpirun, end to end with 2 ranks on graphs/mnist_ae1000.graph (--limit 1024,
# so each case takes seconds). One case per CTest test:
#   mpi_train.sh BUILD_DIR SOURCE_DIR MPI_BUILT CASE
# Exits 77 (CTest's SKIP_RETURN_CODE) when this build has no MPI, mpirun is missing, or MNIST is not fetched.
set -euo pipefail
build=$1 source=$2 mpi_built=$3 case=$4
skip() {
  echo "SKIP: $*"
  exit 77
}
[[ $mpi_built == ON ]] || skip "built without MPI (HOURGLASS_MPI=OFF)"
command -v mpirun >/dev/null || skip "mpirun is not installed (openmpi-bin)"
[[ -f $source/data/mnist/train-images-idx3-ubyte ]] || skip "MNIST is missing (scripts/fetch-data.sh)"

tool=$build/bin/hourglass
work=$build/test-mpi/$case
rm -rf "$work" && mkdir -p "$work"
graph=$source/graphs/mnist_ae1000.graph
# In a sanitizer build, Open MPI's components leak at MPI_Finalize and are unloaded before LeakSanitizer
# looks, so their allocations can be neither attributed nor suppressed: leak checking is off for the ranks.
# AddressSanitizer's other checks still run, and the single-process tests check hourglass's own leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
launcher=(mpirun --oversubscribe)
if [[ $(id -u) == 0 ]]; then launcher+=(--allow-run-as-root); fi
mpi=("${launcher[@]}" -np 2)
train_flags=(--limit 1024 --threads 1 --data-dir "$source/data")
fail() {
  echo "FAIL: $*"
  exit 1
}

# The train_loss and test_loss of each epoch of a metrics log, one epoch a line.
curve() { python3 -c 'import json, sys
for line in open(sys.argv[1]): e = json.loads(line); print(e["epoch"], e["train_loss"], e["test_loss"])' "$1"; }
# Fails unless two metrics logs have the same epochs with losses equal to a relative tolerance.
same_curve() {
  python3 - "$1" "$2" "$3" <<'PY' || fail "the loss curves of $1 and $2 differ by more than $3"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
tolerance = float(sys.argv[3])
assert [e["epoch"] for e in a] == [e["epoch"] for e in b], "different epochs"
for x, y in zip(a, b):
    for key in ("train_loss", "test_loss"):
        error = abs(x[key] - y[key]) / abs(y[key])
        print(f"epoch {x['epoch']} {key}: {x[key]:.12f} vs {y[key]:.12f} (relative {error:.1e})")
        assert error <= tolerance, key
PY
}

case $case in
same_as_one_rank)
  # Two ranks with the global batch of one: every rank's weights hash the same after each epoch (the run
  # would stop otherwise), the loss curve is one rank's up to summation order, and a rerun writes the same
  # checkpoint bytes.
  "${mpi[@]}" "$tool" train "$graph" "${train_flags[@]}" --set epochs=3 --out "$work/a.safetensors" \
    --metrics "$work/a.jsonl" >"$work/a.out" 2>&1 || { cat "$work/a.out"; fail "2-rank training failed"; }
  grep -q "data-parallel over 2 processes" "$work/a.out" || fail "not data-parallel: $(cat "$work/a.out")"
  [[ $(grep -c "^epoch " "$work/a.out") == 3 ]] || fail "rank 1 printed too, or epochs are missing"
  "${mpi[@]}" "$tool" train "$graph" "${train_flags[@]}" --set epochs=3 --out "$work/b.safetensors" \
    --metrics "$work/b.jsonl" >/dev/null 2>&1 || fail "the second 2-rank run failed"
  cmp "$work/a.safetensors" "$work/b.safetensors" || fail "two 2-rank runs wrote different checkpoints"
  "$tool" train "$graph" "${train_flags[@]}" --set epochs=3 --out "$work/one.safetensors" \
    --metrics "$work/one.jsonl" >/dev/null
  same_curve "$work/a.jsonl" "$work/one.jsonl" 1e-6
  ;;
random_draws)
  # sample.normal counts its draws from the global batch's first row, so a VAE on 2 ranks is the VAE on 1 rank
  # up to summation order. Plugin corruptions draw per rank (the ABI has no row offset): a denoising AE
  # matches only statistically, here to 1%.
  for g in gallery/beta_vae pipelines/sdae_small/layer1; do
    name=${g//\//_}
    "${mpi[@]}" "$tool" train "$source/graphs/$g.graph" "${train_flags[@]}" --set epochs=2 \
      --out "$work/$name-2.safetensors" --metrics "$work/$name-2.jsonl" >"$work/$name.out" 2>&1 ||
      fail "2-rank training of $g failed: $(cat "$work/$name.out")"
    "$tool" train "$source/graphs/$g.graph" "${train_flags[@]}" --set epochs=2 \
      --out "$work/$name-1.safetensors" --metrics "$work/$name-1.jsonl" >/dev/null
  done
  same_curve "$work/gallery_beta_vae-2.jsonl" "$work/gallery_beta_vae-1.jsonl" 1e-6
  same_curve "$work/pipelines_sdae_small_layer1-2.jsonl" "$work/pipelines_sdae_small_layer1-1.jsonl" 1e-2
  ;;
diverged_ranks)
  # Rank 1 with another learning rate: the hash comparison after epoch 1 must stop the run.
  if "${launcher[@]}" -np 1 "$tool" train "$graph" "${train_flags[@]}" --out "$work/d.safetensors" \
    --metrics "$work/d.jsonl" : -np 1 "$tool" train "$graph" "${train_flags[@]}" \
    --set lr=0.05 --out "$work/d.safetensors" --metrics "$work/d.jsonl" \
    >"$work/d.out" 2>&1; then
    fail "ranks with different weights trained on"
  fi
  grep -q "after epoch 1 the weights of rank 1 (hash [0-9a-f]*) differ from rank 0's" "$work/d.out" ||
    fail "no clear error: $(cat "$work/d.out")"
  ;;
killed_rank | hung_rank)
  # A rank killed (SIGKILL) or frozen (SIGSTOP) after the first checkpoint: the job must end within 30 s
  # with an error, and the checkpoint must still load. A frozen rank is noticed by the others' deadline.
  HOURGLASS_MPI_TIMEOUT=3 "${mpi[@]}" "$tool" train "$graph" "${train_flags[@]}" --set epochs=1000 \
    --out "$work/k.safetensors" --metrics "$work/k.jsonl" >"$work/k.out" 2>&1 &
  launcher=$!
  for ((i = 0; i < 600; ++i)); do [[ -f $work/k.safetensors ]] && break || sleep 0.1; done
  [[ -f $work/k.safetensors ]] || fail "no checkpoint after 60 s: $(cat "$work/k.out")"
  victim=""
  for pid in $(pgrep -P "$launcher"); do
    if tr '\0' '\n' <"/proc/$pid/environ" | grep -qx OMPI_COMM_WORLD_RANK=1; then victim=$pid; fi
  done
  [[ -n $victim ]] || fail "rank 1's process not found among mpirun's children"
  if [[ $case == killed_rank ]]; then kill -KILL "$victim"; else kill -STOP "$victim"; fi
  start=$SECONDS
  for ((i = 0; i < 300 && $(kill -0 "$launcher" 2>/dev/null && echo 1 || echo 0) == 1; ++i)); do sleep 0.1; done
  if kill -0 "$launcher" 2>/dev/null; then
    kill -CONT "$victim" 2>/dev/null || true
    kill -TERM "$launcher"
    fail "the job still ran 30 s after rank 1 was stopped: $(cat "$work/k.out")"
  fi
  status=0
  wait "$launcher" || status=$?
  echo "the job ended $((SECONDS - start)) s after rank 1 was stopped, status $status"
  ((status != 0)) || fail "the job exited 0"
  if [[ $case == killed_rank ]]; then
    grep -q "process rank 1 .* exited on signal 9" "$work/k.out" || fail "no clear error: $(cat "$work/k.out")"
  else
    grep -q "waited [0-9]* s for the other ranks in .*another rank hung or died" "$work/k.out" ||
      fail "no clear error: $(cat "$work/k.out")"
  fi
  "$tool" eval "$graph" --ckpt "$work/k.safetensors" "${train_flags[@]}" >"$work/eval.out" 2>&1 ||
    fail "the last checkpoint does not load: $(cat "$work/eval.out")"
  ;;
resume_on_two)
  # Two epochs on one rank, two more on two ranks from its checkpoint: the curve of four epochs on one rank.
  "$tool" train "$graph" "${train_flags[@]}" --set epochs=2 --out "$work/r.safetensors" \
    --metrics "$work/r.jsonl" >/dev/null
  "${mpi[@]}" "$tool" train "$graph" "${train_flags[@]}" --set epochs=4 --resume "$work/r.safetensors" \
    --out "$work/r.safetensors" --metrics "$work/r.jsonl" >"$work/r.out" 2>&1 ||
    fail "resuming on 2 ranks failed: $(cat "$work/r.out")"
  grep -q "resuming .* after epoch 2" "$work/r.out" || fail "did not resume: $(cat "$work/r.out")"
  "$tool" train "$graph" "${train_flags[@]}" --set epochs=4 --out "$work/one.safetensors" \
    --metrics "$work/one.jsonl" >/dev/null
  same_curve "$work/r.jsonl" "$work/one.jsonl" 1e-6
  ;;
uneven_batch)
  if "${mpi[@]}" "$tool" train "$graph" "${train_flags[@]}" --set batch=101 --out "$work/u.safetensors" \
    --metrics "$work/u.jsonl" >"$work/u.out" 2>&1; then
    fail "batch 101 trained on 2 ranks"
  fi
  grep -q "error: batch 101 does not split evenly over 2 processes" "$work/u.out" ||
    fail "no clear error: $(cat "$work/u.out")"
  [[ ! -f $work/u.safetensors ]] || fail "a checkpoint was written"
  ;;
pipeline)
  # A pipeline's train stages run on both ranks, its eval on rank 0; a rerun finds every stage up to date.
  mkdir -p "$work/graphs/pipelines"
  cp -r "$source/graphs/common" "$work/graphs/"
  cp -r "$source/graphs/pipelines/sdae_small" "$source/graphs/pipelines/sdae_small.pipeline" "$work/graphs/pipelines/"
  pipeline=$work/graphs/pipelines/sdae_small.pipeline  # writes $work/out/sdae_small
  "${mpi[@]}" "$tool" run "$pipeline" "${train_flags[@]/1024/400}" --set epochs=1 \
    >"$work/p.out" 2>&1 || fail "the pipeline failed: $(cat "$work/p.out")"
  [[ $(grep -c "data-parallel over 2 processes" "$work/p.out") == 4 ]] || fail "$(cat "$work/p.out")"
  [[ $(grep -c "on test (400 samples)" "$work/p.out") == 2 ]] || fail "evaluations: $(cat "$work/p.out")"
  [[ -f $work/out/sdae_small/scratch_accuracy.eval.json ]] || fail "no evaluation written"
  "${mpi[@]}" "$tool" run "$pipeline" "${train_flags[@]/1024/400}" --set epochs=1 \
    >"$work/p2.out" 2>&1 || fail "the rerun failed: $(cat "$work/p2.out")"
  grep -q "0 stages ran, 6 up to date" "$work/p2.out" || fail "the rerun: $(cat "$work/p2.out")"
  ;;
*) fail "unknown case $case" ;;
esac
echo "ok: $case"
