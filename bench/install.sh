#!/usr/bin/env bash
# Installs what the benchmark (bench/run.sh, bench/compare.sh) needs from Debian: python3-torch (1.13),
# OpenBLAS (the pthread build, so PyTorch's f32 GEMMs do not run on the reference BLAS, which is ~35x slower
# here), numpy, matplotlib (the bar chart), GNU time (peak RSS in compare.sh), and the build tools and oneDNN
# headers for bench/gemm_floor.cpp (cmake, ninja, g++, libdnnl-dev). Installs only what is missing; needs
# root or sudo. Safe to rerun.
# The PyTorch side always runs on Debian's own interpreter, /usr/bin/python3 (python3 on PATH may be another).
set -euo pipefail

packages=(python3-torch libopenblas0-pthread python3-numpy python3-matplotlib time cmake ninja-build g++ libdnnl-dev)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/install: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "bench/install: all present (${packages[*]})"
fi

# libblas.so.3 is a Debian alternative: make sure it resolves to OpenBLAS, not the reference BLAS.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
link=libblas.so.3-$arch
openblas=/usr/lib/$arch/openblas-pthread/libblas.so.3
if [ -e "$openblas" ] && [ "$(readlink -f "/etc/alternatives/$link" 2>/dev/null)" != "$(readlink -f "$openblas")" ]; then
  echo "bench/install: pointing $link at OpenBLAS"
  as_root update-alternatives --set "$link" "$openblas"
fi
echo "bench/install: libblas.so.3 -> $(readlink -f "/etc/alternatives/$link" 2>/dev/null || echo '?')"

/usr/bin/python3 -c 'import torch, numpy, matplotlib; print("bench/install: torch", torch.__version__, "numpy", numpy.__version__, "matplotlib", matplotlib.__version__)'
