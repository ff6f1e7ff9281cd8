// `precision = bf16` (train block, --set precision=bf16 or --precision bf16): training's dense GEMMs on bf16
// operands with f32 master weights. Runs need a CPU whose oneDNN has native bf16 kernels and are reported
// skipped elsewhere; the error for a CPU without them is tested everywhere by capping oneDNN's ISA.
#include <cmath>
#include <string>

#include "kernels/bf16.h"
#include "test_skip.h"
#include "tool_runner.h"

using namespace hg::test;

namespace {

const std::string kSlice = " --limit 3000 --threads 2";

// The test loss of the last epoch in a train run's output ("| test loss X").
double test_loss(const std::string& output) {
  const size_t at = output.rfind("| test loss ");
  REQUIRE(at != std::string::npos);
  return std::stod(output.substr(at + 12));
}

std::string bf16_graph(const std::string& name) {  // precision set in the file, on line 7
  const std::string path = tool_scratch(name + ".graph");
  std::ofstream(path)
      << "data train = idx(\"mnist/train-images-idx3-ubyte\", scale=1/255)\n"
         "data test  = idx(\"mnist/t10k-images-idx3-ubyte\", scale=1/255)\n"
         "input x : [784] <- image\ncode = dense(x, 64) |> relu\nrecon = dense(code, 784) |> sigmoid\n"
         "loss = loss.bce(recon, x)\ntrain { optimizer = adam(lr=0.003) batch = 100 epochs = 2 "
         "precision = bf16 }\n";
  return path;
}

}  // namespace

TEST_CASE("precision = bf16 is a clear error, at its place, where oneDNN has no bf16 kernels") {
  const std::string graph = bf16_graph("no_bf16");
  ToolResult r = run_command("ONEDNN_MAX_CPU_ISA=AVX2 " HG_TOOL " train " + graph + kSlice + " --out " +
                             tool_scratch("no_bf16.safetensors") + " --force");
  CHECK(r.status == 1);
  CHECK(contains(r.output, graph + ":7:"));
  CHECK(contains(r.output, "precision = bf16 needs a CPU with AVX512-BF16 or AMX-BF16 instructions"));
  CHECK(contains(r.output, "AVX2"));
  r = run_command("ONEDNN_MAX_CPU_ISA=AVX2 " HG_TOOL " train graphs/mnist_ae32.graph --precision bf16" +
                  kSlice + " --out " + tool_scratch("no_bf16_flag.safetensors") + " --force");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "--set precision=bf16: error: precision = bf16 needs"));
}

TEST_CASE("precision takes f32 or bf16, and check reports it") {
  ToolResult r = run_tool("train graphs/mnist_ae32.graph --precision fp16" + kSlice);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "precision is f32 or bf16, got 'fp16'"));
  const std::string bad = tool_scratch("fp16.graph");
  std::ofstream(bad) << "input x : [4] <- image\nr = dense(x, 4)\nloss = loss.mse(r, x)\n"
                        "train { precision = fp16 }\n";
  r = run_tool("check " + bad);
  CHECK(r.status == 1);
  CHECK(contains(r.output, bad + ":4:21: error: 'precision' is f32 or bf16, got fp16"));
  r = run_tool("check " + bf16_graph("check_bf16"));
  CHECK(r.status == 0);
  CHECK(contains(r.output, "seed 1, precision bf16;"));
}

TEST_CASE("bf16 training ends within 2% of f32's test loss, and resumes to the same bytes") {
  if (const std::string missing = hg::bf16_unavailable(); !missing.empty())
    return skip_test("no native bf16 kernels: " + missing);
  const std::string graph = bf16_graph("bf16");
  const std::string out = tool_scratch("bf16.safetensors"), f32_out = tool_scratch("f32.safetensors");
  ToolResult bf16 = run_tool("train " + graph + kSlice + " --out " + out + " --force --metrics " +
                             tool_scratch("bf16.jsonl"));
  REQUIRE(bf16.status == 0);
  ToolResult f32 = run_tool("train " + graph + kSlice + " --set precision=f32 --out " + f32_out +
                            " --force --metrics " + tool_scratch("f32.jsonl"));
  REQUIRE(f32.status == 0);
  const double a = test_loss(bf16.output), b = test_loss(f32.output);
  CAPTURE(a);
  CAPTURE(b);
  CHECK(std::fabs(a - b) < 0.02 * b);
  CHECK(read_file(out) != read_file(f32_out));  // the operands were rounded: not an f32 run

  const std::string resumed = tool_scratch("bf16_resumed.safetensors");
  REQUIRE(run_tool("train " + graph + kSlice + " --set epochs=1 --out " + resumed + " --force --metrics " +
                   tool_scratch("bf16_resumed.jsonl"))
              .status == 0);
  REQUIRE(run_tool("train " + graph + kSlice + " --resume " + resumed + " --out " + resumed + " --metrics " +
                   tool_scratch("bf16_resumed.jsonl"))
              .status == 0);
  CHECK(read_file(resumed) == read_file(out));
}
