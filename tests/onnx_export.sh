#!/usr/bin/env bash
# ONNX export end to end. Every gallery graph, the three MNIST graphs and tests/onnx_all_ops.graph (every op
# of the graph language) are trained briefly and exported; Debian's python3-onnx checks each model
# (check_model with full_check, strict shape inference) and its input and output names and shapes; ONNX
# Runtime (the npm package onnxruntime-node, installed by scripts/fetch-onnxruntime.sh) runs each model on
# the inputs `hourglass encode` reports for 100 test images and must give the values `hourglass encode`
# gives, within |onnx - hourglass| <= 1e-5 * max(1, |hourglass|) for every element. Encoders (--node) and
# decoders (--decoder-from) are checked the same way. Skipped (exit 77) without MNIST and Fashion-MNIST,
# and where onnxruntime-node cannot be installed; the python3-onnx checks need no network and always run.
#   onnx_export.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
work=$build/test-onnx
rm -rf "$work" && mkdir -p "$work"
hourglass() { "$build/bin/hourglass" "$@" --data-dir "$source/data" --threads 2; }

if [[ ! -f $source/data/mnist/t10k-images-idx3-ubyte || ! -f $source/data/fashion-mnist/t10k-images-idx3-ubyte.gz ]]; then
  echo "MNIST or Fashion-MNIST is not fetched (run scripts/fetch-data.sh): skipped"
  exit 77
fi
/usr/bin/python3 -c 'import onnx, numpy' || { echo "FAIL: python3-onnx and python3-numpy are needed (scripts/install-deps.sh)"; exit 1; }

# One case per line: graph, name, output node, input nodes (comma-separated), export flags.
cases=$work/cases.txt
for graph in "$source"/graphs/gallery/*.graph "$source"/graphs/mnist_ae32.graph "$source"/graphs/mnist_ae1000.graph; do
  echo "$graph $(basename "$graph" .graph) recon x" >>"$cases"
done
cat >>"$cases" <<EOF
$source/graphs/mnist_mlp.graph mnist_mlp logits x
$source/graphs/mnist_mlp.graph mnist_mlp.probs probs x --node probs
$source/graphs/mnist_ae32.graph mnist_ae32.encoder code x --node code
$source/graphs/mnist_ae32.graph mnist_ae32.decoder recon code --decoder-from code
$source/graphs/gallery/vae.graph vae.encoder mu x --node mu
$source/graphs/gallery/vae.graph vae.decoder recon z --decoder-from z
$source/graphs/gallery/conv_vae_fashion.graph conv_vae_fashion.encoder mu x --node mu
$source/graphs/gallery/conv_vae_fashion.graph conv_vae_fashion.decoder recon z --decoder-from z
$source/graphs/gallery/conv_vae_fashion.graph conv_vae_fashion.middle d1 z --decoder-from z --node d1
$source/graphs/gallery/conv_skip_denoising.graph conv_skip_denoising.decoder recon e2,p2 --decoder-from p2 --decoder-from e2
$source/graphs/gallery/ksparse.graph ksparse.encoder code x --node code
$source/tests/onnx_all_ops.graph all_ops recon x
$source/tests/onnx_all_ops.graph all_ops.encoder code x --node code
$source/tests/onnx_all_ops.graph all_ops.decoder recon x,z --decoder-from z
EOF

# Train each graph briefly (so that the weights and batchnorm's running statistics are not their initial
# values), export each case, and let `hourglass encode` write every input and output value it involves.
trained=" "
while read -r graph name output inputs flags; do
  stem=$(basename "$graph" .graph)
  if [[ $trained != *" $stem "* ]]; then
    hourglass train "$graph" --set epochs=1 --limit 256 --out "$work/$stem.safetensors" --metrics "$work/$stem.jsonl" >/dev/null
    trained+="$stem "
  fi
  # shellcheck disable=SC2086 # flags are words
  hourglass export "$graph" --ckpt "$work/$stem.safetensors" --out "$work/$name.onnx" $flags >"$work/$name.log"
  for node in ${inputs//,/ } $output; do
    [[ -f $work/$stem.$node.npy ]] ||
      hourglass encode "$graph" --ckpt "$work/$stem.safetensors" --node "$node" --limit 100 --out "$work/$stem.$node.npy" >/dev/null
  done
done <"$cases"
grep -q "wrote $work/mnist_ae32.onnx: ONNX opset 17, 'x' \[N, 784\] -> 'recon' \[N, 784\], 4 nodes, 4 initializers" \
  "$work/mnist_ae32.log" || { echo "FAIL: export's report: $(cat "$work/mnist_ae32.log")"; exit 1; }

# The ONNX checks, and the manifest that the runtime check reads.
/usr/bin/python3 - "$cases" "$work" <<'PY'
import json, sys
import numpy as np
import onnx
from onnx import shape_inference

cases_path, work = sys.argv[1:]
manifest = []
for line in open(cases_path):
    graph, name, output, inputs = line.split()[:4]
    stem = graph.rsplit("/", 1)[1][: -len(".graph")]
    model = onnx.load(f"{work}/{name}.onnx")
    onnx.checker.check_model(model, full_check=True)
    inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)], (name, model.opset_import)

    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    got_inputs = [i.name for i in model.graph.input]
    assert got_inputs == inputs.split(","), (name, got_inputs)
    assert [o.name for o in model.graph.output] == [output], (name, [o.name for o in model.graph.output])
    # Shape inference reaches the declared output shape from the inputs alone.
    declared = shape(model.graph.output[0])
    assert declared[0] == "N" and shape(inferred.graph.output[0]) == declared, (name, declared)
    entry = {"model": f"{work}/{name}.onnx", "inputs": [], "output": f"{work}/{stem}.{output}.npy", "name": name}
    for value in model.graph.input:
        dims = shape(value)
        assert dims[0] == "N" and all(isinstance(d, int) for d in dims[1:]), (name, dims)
        data = np.load(f"{work}/{stem}.{value.name}.npy")
        assert data.shape[1] == int(np.prod(dims[1:])), (name, value.name, data.shape, dims)
        entry["inputs"].append({"name": value.name, "dims": dims[1:], "npy": f"{work}/{stem}.{value.name}.npy"})
    manifest.append(entry)
json.dump(manifest, open(f"{work}/manifest.json", "w"), indent=1)
print(f"onnx.checker: {len(manifest)} models pass check_model(full_check=True) and strict shape inference")
PY

if ! runtime=$("$source/scripts/fetch-onnxruntime.sh" | tail -n 1); then
  echo "onnxruntime-node cannot be installed here: the runtime comparison is skipped"
  exit 77
fi
NODE_PATH=$runtime/node_modules node - "$work/manifest.json" <<'JS'
const fs = require('fs');
const ort = require('onnxruntime-node');

// A .npy file of float32 values (numpy format 1.0, as `hourglass encode` writes it): its shape and data.
function readNpy(path) {
  const bytes = fs.readFileSync(path);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.toString('latin1', 10, 10 + headerLength);
  if (!header.includes("'descr': '<f4'")) throw new Error(`${path}: not little-endian float32`);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const start = 10 + headerLength;
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
  return {shape, data};
}

(async () => {
  let failed = 0;
  for (const c of JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))) {
    const session = await ort.InferenceSession.create(c.model);
    const feeds = {};
    for (const input of c.inputs) {
      const {shape, data} = readNpy(input.npy);
      feeds[input.name] = new ort.Tensor('float32', data, [shape[0], ...input.dims]);
    }
    const result = await session.run(feeds);
    const got = result[session.outputNames[0]].data, want = readNpy(c.output).data;
    let worst = 0, bad = 0;
    if (got.length !== want.length) throw new Error(`${c.name}: ${got.length} values, expected ${want.length}`);
    for (let i = 0; i < want.length; ++i) {
      const error = Math.abs(got[i] - want[i]);
      const allowed = 1e-5 * Math.max(1, Math.abs(want[i]));
      if (!(error <= allowed)) ++bad;  // NaN fails too
      worst = Math.max(worst, error / Math.max(1, Math.abs(want[i])));
    }
    console.log(`${bad ? 'FAIL' : 'ok  '} ${c.name}: ${want.length} values, largest |a-b|/max(1,|b|) ${worst.toExponential(2)}` +
                (bad ? `, ${bad} beyond 1e-5` : ''));
    failed += bad ? 1 : 0;
  }
  if (failed) {
    console.log(`FAIL: ${failed} models differ from hourglass encode`);
    process.exit(1);
  }
  console.log(`onnxruntime ${require('onnxruntime-node/package.json').version}: every model agrees with hourglass encode`);
})().catch((e) => {
  console.log(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
JS
