#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds, fetches the data the tests slice, then CTest.
# Set HOURGLASS_SANITIZE=1 to build and test with AddressSanitizer and UBSan in build-asan/.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
scripts/install-deps.sh
if [[ ${HOURGLASS_SANITIZE:-0} == 1 ]]; then
  export BUILD_DIR=$repo_root/build-asan
  scripts/build.sh -DHOURGLASS_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
  export BUILD_DIR=$repo_root/build
  scripts/build.sh
fi
scripts/fetch-data.sh
scripts/sklearn-data.sh  # the real-data examples' tables and photographs (python3-sklearn)
# ONNX Runtime for the export test; without it (no npm registry) that test's runtime part is skipped.
scripts/fetch-onnxruntime.sh >/dev/null || echo "test: onnxruntime-node not installed; the ONNX Runtime check will skip"
cd "$BUILD_DIR"
# Files the runner tests wrote in an earlier run may come from an older build; a fresh train refuses to
# overwrite another run's checkpoint, so each suite run starts with an empty scratch folder.
rm -rf test-tools
ctest --output-on-failure -j "$(nproc)" --timeout 600
