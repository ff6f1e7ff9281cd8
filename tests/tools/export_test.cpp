// `hourglass export`: its report, and the exact messages for outputs and inputs that do not fit and for an
// --out it cannot write. tests/onnx_export.sh checks the models themselves in python3-onnx and ONNX Runtime.
#include <filesystem>

#include "tool_runner.h"

using namespace hg::test;

namespace {

const std::string kGraph = "graphs/mnist_ae32.graph";

const std::string& checkpoint() {
  static const std::string out = [] {
    const std::string path = tool_scratch("export_ae32.safetensors");
    REQUIRE(run_tool("train " + kGraph + " --set epochs=1 --limit 256 --threads 2 --out " + path +
                     " --metrics " + tool_scratch("export_ae32.jsonl"))
                .status == 0);
    return path;
  }();
  return out;
}

ToolResult export_model(const std::string& flags, const std::string& out = tool_scratch("export.onnx")) {
  return run_tool("export " + kGraph + " --ckpt " + checkpoint() + " --out " + out + " " + flags);
}

}  // namespace

TEST_CASE("export's help and the runner's usage state the ONNX opset") {
  const ToolResult help = run_tool("export --help");
  CHECK(help.status == 0);
  CHECK(contains(help.output, "usage: hourglass export GRAPH --ckpt CKPT --out FILE"));
  CHECK(contains(help.output, "export options (ONNX opset 17, a dynamic batch dim N; docs/deployment.md)"));
  CHECK(contains(help.output, "--decoder-from NAME"));
  CHECK(contains(run_tool("--help").output, "the evaluation graph as an ONNX model (opset 17)"));
}

TEST_CASE("export reports what it wrote: inputs, output, opset and size") {
  const std::string out = tool_scratch("export_encoder.onnx");
  std::filesystem::remove(out);
  const ToolResult r = export_model("--node code", out);
  CHECK(r.status == 0);
  CHECK(r.output ==
        "wrote " + out + ": ONNX opset 17, 'x' [N, 784] -> 'code' [N, 32], 2 nodes, 2 initializers\n");
  CHECK(std::filesystem::file_size(out) > 32 * 784 * 4);
  const ToolResult decoder = export_model("--decoder-from code", out);
  CHECK(decoder.output ==
        "wrote " + out + ": ONNX opset 17, 'code' [N, 32] -> 'recon' [N, 784], 2 nodes, 2 initializers\n");
}

TEST_CASE("export names the node it cannot find, or cannot use, at its place") {
  ToolResult r = export_model("--node cod");
  CHECK(r.status == 1);
  CHECK(r.output ==
        "--node 'cod': error: graphs/mnist_ae32.graph has no node 'cod' (did you mean 'code'?)\n");
  r = export_model("--decoder-from recn");
  CHECK(r.status == 1);
  CHECK(r.output ==
        "--decoder-from 'recn': error: graphs/mnist_ae32.graph has no node 'recn' (did you mean 'recon'?)\n");
  r = export_model("--node code.weights");
  CHECK(r.status == 1);
  CHECK(r.output ==
        "graphs/mnist_ae32.graph:11:9: error: 'code.weights' is a parameter; the model's output must be a "
        "value "
        "with one row per sample\n");
  r = export_model("--node loss");
  CHECK(r.status == 1);
  CHECK(r.output ==
        "graphs/mnist_ae32.graph:14:1: error: 'loss' is one number for the whole batch, not a value per "
        "sample; "
        "the model's output must have one row per sample\n");
  r = export_model("--node code --decoder-from recon");
  CHECK(r.status == 1);
  CHECK(r.output ==
        "graphs/mnist_ae32.graph:12:29: error: 'code' is not computed from 'recon', so it cannot be its "
        "input\n");
  r = export_model("--decoder-from recon");
  CHECK(r.status == 1);
  CHECK(r.output ==
        "graphs/mnist_ae32.graph:12:29: error: 'recon' cannot be both the model's input and its output\n");
  r = export_model("--node x");
  CHECK(r.status == 1);
  CHECK(r.output ==
        "graphs/mnist_ae32.graph:9:7: error: 'x' is a data input; the model's output must be computed from "
        "it\n");
}

TEST_CASE("export refuses an --out it cannot write, and leaves nothing behind") {
  const std::string folder = tool_scratch("export_folder");
  std::filesystem::create_directories(folder);
  ToolResult r = export_model("", folder);
  CHECK(r.status == 2);
  CHECK(r.output == "hourglass export: --out '" + folder + "' is a folder; give the file to write, e.g. " +
                        folder + "/model.onnx\n");
  r = export_model("", kGraph + "/model.onnx");
  CHECK(r.status == 1);
  CHECK(r.output ==
        kGraph + "/model.onnx: error: cannot create the folder " + kGraph + ": Not a directory\n");
  CHECK(std::filesystem::is_empty(folder));
}
