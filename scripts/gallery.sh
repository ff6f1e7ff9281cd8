#!/usr/bin/env bash
# Trains every graph in graphs/gallery/ (plus the three top-level examples) to the end of its recipe and
# records what it produced: test loss, loss on uniform-noise images (how close to identity), seconds per
# epoch, and filter / reconstruction pictures. A VAE (a graph with sample.normal) also gets its test loss with
# z sampled (eval --sample) and decoded samples of z ~ N(0, I), and one with a 2-D code the latent manifold.
# Writes docs/results/<name>.{filters,recon,samples,latent}.png (each where the graph has one) and prints one
# markdown table row per graph (docs/gallery.md holds the rows of the last run).
#   scripts/gallery.sh [GRAPH...]        (default: all of them; takes about half an hour on 2 cores)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
hg=build/bin/hourglass
mkdir -p out docs/results
graphs=("$@")
[ ${#graphs[@]} -gt 0 ] || graphs=(graphs/mnist_ae32.graph graphs/mnist_mlp.graph graphs/mnist_ae1000.graph graphs/gallery/*.graph)
echo "| graph | test | uniform noise | s/epoch (median) | epochs |"
echo "|---|---|---|---|---|"
for graph in "${graphs[@]}"; do
  name=$(basename "$graph" .graph)
  ckpt=out/$name.safetensors metrics=out/$name.metrics.jsonl
  "$hg" train "$graph" --out "$ckpt" --metrics "$metrics" >"out/$name.train.log" 2>&1
  test_line=$("$hg" eval "$graph" --ckpt "$ckpt" | sed 's/.*samples): //')
  vae=0
  if grep -q 'sample\.normal' "$graph"; then
    vae=1
    test_line="$test_line; z sampled: $("$hg" eval "$graph" --ckpt "$ckpt" --sample | sed 's/.*sampled): //')"
  fi
  noise_line=$("$hg" eval "$graph" --ckpt "$ckpt" --noise 1000 | sed 's/.*samples): //')
  seconds=$(grep -o '"seconds": *[0-9.e-]*' "$metrics" | sed 's/.*: *//' | sort -g | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}')
  epochs=$(wc -l <"$metrics")
  if "$hg" show filters "$graph" --ckpt "$ckpt" --out "docs/results/$name.filters.png" >/dev/null 2>&1; then :; fi
  if "$hg" show recon "$graph" --ckpt "$ckpt" --out "docs/results/$name.recon.png" >/dev/null 2>&1; then :; fi
  if [ $vae = 1 ]; then
    if "$hg" show samples "$graph" --ckpt "$ckpt" --out "docs/results/$name.samples.png" >/dev/null 2>&1; then :; fi
    # Only a 2-D code has a manifold to draw; show latent refuses any other.
    if "$hg" show latent "$graph" --ckpt "$ckpt" --count 400 --out "docs/results/$name.latent.png" >/dev/null 2>&1; then :; fi
  fi
  echo "| \`$graph\` | $test_line | $noise_line | $seconds | $epochs |"
done
