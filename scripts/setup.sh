#!/usr/bin/env bash
# The one set-up command on a fresh Debian 12 machine: installs what is missing, builds, fetches MNIST and
# Fashion-MNIST, then trains the example undercomplete autoencoder and prints its test loss.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
scripts/install-deps.sh
scripts/build.sh
scripts/fetch-data.sh
build/bin/hourglass train graphs/mnist_ae32.graph --out out/mnist_ae32.safetensors
build/bin/hourglass eval graphs/mnist_ae32.graph --ckpt out/mnist_ae32.safetensors
