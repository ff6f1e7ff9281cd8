#!/usr/bin/env bash
# An out-of-tree plugin, end to end: install hourglass into a scratch prefix, build plugins/examples/
# log_sparsity against the installed package only, then use its term from a graph through --plugin-dir and
# through HOURGLASS_PLUGIN_PATH, and check its gradient with gradcheck; without either the term is unknown.
#   out_of_tree_plugin.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
prefix=$build/test-install example=$build/test-example
rm -rf "$prefix" "$example"
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S "$source/plugins/examples/log_sparsity" -B "$example" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$example" >/dev/null
test -f "$example/log_sparsity.so"

graph=$example/sparse.graph
cat >"$graph" <<'GRAPH'
data train = idx("mnist/train-images-idx3-ubyte", scale=1/255)
input x : [784] <- image
code  = dense(x, 64) |> sigmoid
recon = dense(code, 784) |> sigmoid
loss = loss.bce(recon, x) + 0.01 * example.log_sparsity(code, eps=0.05)
train { optimizer = adam(lr=0.001) batch = 64 epochs = 1 }
GRAPH
run() { "$prefix/bin/hourglass" "$@" --data-dir "$source/data"; }

out=$(run train "$graph" --limit 640 --plugin-dir "$example" --out "$example/a.safetensors" --metrics "$example/a.jsonl")
grep -q "example.log_sparsity" <<<"$out" || { echo "FAIL: the term's value is not reported: $out"; exit 1; }

out=$(HOURGLASS_PLUGIN_PATH="$example" "$prefix/bin/hourglass" plugins)
grep -q "example.log_sparsity(activations)  regularizer, version 0.1.0" <<<"$out" || { echo "FAIL: plugins: $out"; exit 1; }

out=$("$prefix/bin/hourglass" gradcheck example.log_sparsity --plugin-dir "$example" --shape 8x16)
grep -q "example.log_sparsity: ok" <<<"$out" || { echo "FAIL: gradcheck: $out"; exit 1; }

if out=$(run check "$graph" 2>&1); then echo "FAIL: the term resolved without its plugin"; exit 1; fi
grep -q "error: unknown term 'example.log_sparsity'" <<<"$out" || { echo "FAIL: wrong error: $out"; exit 1; }
echo "ok: built against $prefix, trained with example.log_sparsity"
