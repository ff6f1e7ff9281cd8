#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang, ASan and UBSan into build-fuzz/, and runs them:
#   scripts/fuzz.sh smoke                  the CTest smoke run (a fixed number of executions per harness)
#   scripts/fuzz.sh run HARNESS SECONDS    a long campaign of one harness (graph, pipeline, idx, safetensors,
#                                          plugin_table)
#   scripts/fuzz.sh all SECONDS            each harness in turn for SECONDS
# A campaign keeps its growing corpus in out/fuzz/HARNESS/corpus (the committed seeds are read, never
# written), crash inputs in out/fuzz/HARNESS/crashes/, and libFuzzer's log in out/fuzz/HARNESS.log, whose
# last lines give the executions reached (stat::number_of_executed_units). FUZZ_JOBS (default 1) runs
# that many fuzzing processes in parallel; FUZZ_BUILD_JOBS (default 2) is the build's parallelism.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${FUZZ_BUILD_DIR:-$repo_root/build-fuzz}
harnesses=(graph pipeline idx safetensors plugin_table)

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 ]] || usage
command -v clang++ >/dev/null || { echo "scripts/fuzz.sh: clang++ is missing (apt-get install clang)" >&2; exit 1; }

build() {
  CC=clang CXX=clang++ cmake -S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHOURGLASS_FUZZ=ON "$@" >/dev/null
  cmake --build "$build_dir" -j "${FUZZ_BUILD_JOBS:-2}" --target "${harnesses[@]/#/fuzz_}"
}

campaign() {
  local name=$1 seconds=$2 out=$repo_root/out/fuzz/$1
  mkdir -p "$out/corpus" "$out/crashes"
  echo "fuzzing $name for ${seconds}s: log in out/fuzz/$name.log"
  # -fork with -ignore_crashes keeps going past a crash, so one known bug does not end the campaign; each
  # crash input is kept in crashes/ with the sanitizer report in the log.
  "$build_dir/bin/fuzz_$name" -fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict="$repo_root/tests/fuzz/$name.dict" -artifact_prefix="$out/crashes/" -print_final_stats=1 \
    "$out/corpus" "$repo_root/tests/fuzz/corpus/$name" >"$repo_root/out/fuzz/$name.log" 2>&1 || true
  grep -E "number_of_executed_units|Done [0-9]+ runs|INFO: fuzzed for" "$repo_root/out/fuzz/$name.log" | tail -2 || true
  echo "crash inputs: $(find "$out/crashes" -type f | wc -l)"
}

case $1 in
  smoke)
    build
    cmake --build "$build_dir" -j "${FUZZ_BUILD_JOBS:-2}" --target hourglass_plugins
    ctest --test-dir "$build_dir" -L fuzz --output-on-failure ;;
  run)
    [[ $# -eq 3 ]] || usage
    build
    campaign "$2" "$3" ;;
  all)
    [[ $# -eq 2 ]] || usage
    build
    for name in "${harnesses[@]}"; do campaign "$name" "$2"; done ;;
  *) usage ;;
esac
