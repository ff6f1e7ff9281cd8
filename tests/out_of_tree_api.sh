#!/usr/bin/env bash
# The library API out of tree: install hourglass into a scratch prefix, build tools/examples/embed against the
# installed package only, and check that its codes for test images are `hourglass encode`'s, within
# |a - b| <= 1e-5 * max(1, |b|) (the library plans other batch sizes than encode, and oneDNN may sum in
# another order there). Skipped (77) only where python3's numpy, which compares the files, is missing.
#   out_of_tree_api.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "skipped: python3-numpy is not installed"; exit 77; }
prefix=$build/test-install-api example=$build/test-embed
rm -rf "$prefix" "$example"
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S "$source/tools/examples/embed" -B "$example" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$example" >/dev/null
if ldd "$example/embed" | grep -q "$build/lib/"; then echo "FAIL: embed links the build tree's library"; exit 1; fi

cd "$source"
hourglass() { "$prefix/bin/hourglass" "$@" --data-dir "$source/data"; }
hourglass train graphs/mnist_ae32.graph --set epochs=1 --limit 600 --threads 2 --out "$example/ae.safetensors" >/dev/null
hourglass encode graphs/mnist_ae32.graph --ckpt "$example/ae.safetensors" --node x --limit 500 --out "$example/x.npy" >/dev/null
hourglass encode graphs/mnist_ae32.graph --ckpt "$example/ae.safetensors" --node code --limit 500 --out "$example/code.npy" >/dev/null
"$example/embed" graphs/mnist_ae32.graph "$example/ae.safetensors" code "$example/x.npy" "$example/embedded.npy"
/usr/bin/python3 - "$example/code.npy" "$example/embedded.npy" <<'PY'
import sys
import numpy as np
expected, got = np.load(sys.argv[1]), np.load(sys.argv[2])
assert got.shape == expected.shape == (500, 32), (got.shape, expected.shape)
worst = float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))))
print(f"worst relative difference {worst:.3g} over {got.size} values")
assert worst <= 1e-5, worst
assert np.std(got) > 0.01, "codes are constant"
PY

if out=$("$example/embed" graphs/mnist_ae32.graph "$example/ae.safetensors" cod "$example/x.npy" "$example/e.npy" 2>&1); then
  echo "FAIL: an unknown node encoded"; exit 1
fi
grep -q "has no node 'cod' (did you mean 'code'?)" <<<"$out" || { echo "FAIL: wrong error: $out"; exit 1; }
echo "ok: built against $prefix, codes match hourglass encode"
