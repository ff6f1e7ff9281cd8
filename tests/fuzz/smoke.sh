#!/usr/bin/env bash
# CTest's fuzz smoke run: a fixed number of executions of one libFuzzer harness, starting from its committed
# corpus, with new inputs kept in a throw-away folder so the committed corpus never changes.
# usage: smoke.sh HARNESS CORPUS DICT RUNS
set -euo pipefail
harness=$1 corpus=$2 dict=$3 runs=$4
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$harness" -runs="$runs" -seed=1 -max_len=8192 -timeout=10 -rss_limit_mb=2048 -dict="$dict" \
  -artifact_prefix="$scratch/" -print_final_stats=1 "$scratch" "$corpus"
