// `hourglass train` across runs: --resume continues an interrupted run to the same bytes, and warns when
// other epochs stretch a cosine schedule; --init/--map/--freeze start a classifier from a pretrained encoder
// with a report; every misuse is a clear error (exit 1 for a bad checkpoint or name, 2 for a command line).
#include <cstring>

#include <nlohmann/json.hpp>

#include "runtime/checkpoint.h"
#include "tool_runner.h"

using namespace hg::test;

namespace {

const std::string kSlice = " --limit 600 --threads 2";

std::string classifier_graph(const std::string& name) {  // one file per test: CTest runs them in parallel
  const std::string path = tool_scratch(name + ".graph");
  std::ofstream(path) << "data train = idx(\"mnist/train-images-idx3-ubyte\", "
                         "labels=\"mnist/train-labels-idx1-ubyte\", scale=1/255)\n"
                         "data test  = idx(\"mnist/t10k-images-idx3-ubyte\", "
                         "labels=\"mnist/t10k-labels-idx1-ubyte\", scale=1/255)\n"
                         "input x : [784] <- image\ninput y : [10] <- label\nfc1 = dense(x, 32) |> "
                         "relu\nlogits = dense(fc1, 10)\n"
                         "loss = loss.softmax_ce(logits, y)\ntrain { optimizer = adam(lr=0.003) batch = 50 "
                         "epochs = 1 seed = 4 }\n";
  return path;
}

// Trains graphs/mnist_ae32.graph on a slice; returns the checkpoint.
std::string pretrained(const std::string& name) {
  const std::string out = tool_scratch(name + ".safetensors");
  REQUIRE(run_tool("train graphs/mnist_ae32.graph --set epochs=1" + kSlice + " --out " + out + " --metrics " +
                   tool_scratch(name + ".jsonl"))
              .status == 0);
  return out;
}

std::string tensor_bytes(const std::string& checkpoint, const std::string& name) {
  const hg::CheckpointFile file(checkpoint);
  const hg::StoredTensor* t = file.find(name);
  REQUIRE(t != nullptr);
  std::vector<float> values(size_t(t->end - t->begin) / 4);
  file.read(name, t->shape, values.data(), "");
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4);
}

// Only what the runner writes to stderr.
ToolResult stderr_of(const std::string& arguments) {
  return run_command("(" HG_TOOL " " + arguments + " >/dev/null)");
}

std::string cosine_graph(const std::string& name, const std::string& schedule) {
  const std::string path = tool_scratch("stretch-" + name + ".graph");
  std::ofstream(path) << "data train = idx(\"mnist/train-images-idx3-ubyte\", scale=1/255)\n"
                         "data test  = idx(\"mnist/t10k-images-idx3-ubyte\", scale=1/255)\n"
                         "input x : [784] <- image\ncode = dense(x, 16) |> relu\n"
                         "recon = dense(code, 784) |> sigmoid\nloss = loss.bce(recon, x)\n"
                         "train { optimizer = sgd(lr=0.1) "
                      << schedule << " batch = 100 epochs = 1 seed = 2 }\n";
  return path;
}

// A copy of `checkpoint` whose __metadata__ has `key` set to `value`, or removed when `value` is empty.
std::string with_metadata(const std::string& checkpoint, const std::string& key, const std::string& value,
                          const std::string& copy) {
  const std::string bytes = read_file(checkpoint);
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | uint8_t(bytes[size_t(i)]);
  nlohmann::ordered_json header = nlohmann::ordered_json::parse(bytes.substr(8, length));
  if (value.empty())
    header["__metadata__"].erase(key);
  else
    header["__metadata__"][key] = value;
  const std::string text = header.dump();
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[size_t(i)] = char(uint64_t(text.size()) >> (8 * i) & 0xff);
  std::ofstream(copy, std::ios::binary) << prefix << text << bytes.substr(8 + length);
  return copy;
}

}  // namespace

TEST_CASE("train --help describes --resume, --init, --map and --freeze") {
  ToolResult r = run_tool("train --help");
  CHECK(r.status == 0);
  for (const char* flag : {"--resume", "--init", "--map", "--freeze", "after every epoch"})
    CHECK_MESSAGE(contains(r.output, flag), flag);
  CHECK(contains(run_tool("--help").output, "encode GRAPH --ckpt F --node N --out FILE"));
}

TEST_CASE("train's start flags that contradict or lack each other are command-line errors") {
  ToolResult r = run_tool("train graphs/mnist_ae32.graph --init a.safetensors --resume b.safetensors");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "--init and --resume exclude each other"));
  r = run_tool("train graphs/mnist_ae32.graph --map 'code.*->fc1.*'");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "--map needs --init CKPT"));
  r = run_tool("train graphs/mnist_ae32.graph --init a.safetensors --map 'code.*'");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "hourglass train: --map 'code.*': a map rule is 'source->target'"));
  r = run_tool("train graphs/mnist_ae32.graph --init a.safetensors --map 'code.*->fc1.weights'");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "need a '*' on both sides or on neither"));
  r = run_tool("train graphs/mnist_ae32.graph --freeze 'cod.*' --limit 100");
  CHECK(r.status == 1);
  CHECK(contains(r.output,
                 "--freeze 'cod.*': error: 'cod.*' matches no parameter of graphs/mnist_ae32.graph (did you "
                 "mean 'code.*'?)"));
}

TEST_CASE("an interrupted run resumed with --resume writes the same bytes as an uninterrupted one") {
  const std::string graph = "graphs/gallery/denoising_masking.graph";
  const std::string straight = tool_scratch("straight.safetensors"),
                    resumed = tool_scratch("resumed.safetensors");
  const std::string log = tool_scratch("resumed.jsonl");
  REQUIRE(run_tool("train " + graph + " --set epochs=3" + kSlice + " --out " + straight + " --metrics " +
                   tool_scratch("straight.jsonl"))
              .status == 0);
  REQUIRE(run_tool("train " + graph + " --set epochs=1" + kSlice + " --out " + resumed + " --metrics " + log)
              .status == 0);
  ToolResult r = run_tool("train " + graph + " --set epochs=3" + kSlice + " --resume " + resumed + " --out " +
                          resumed + " --metrics " + log);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "resuming " + resumed + " after epoch 1 (step "));
  CHECK_FALSE(contains(r.output, "\nepoch 1 "));
  CHECK(contains(r.output, "epoch 3 "));
  CHECK(read_file(straight) == read_file(resumed));
  std::ifstream lines(log);
  int count = 0;
  for (std::string line; std::getline(lines, line);) ++count;
  CHECK(count == 3);  // --resume appends to the metrics log

  r = run_tool("train " + graph + " --set epochs=3" + kSlice + " --resume " + resumed + " --out " + resumed +
               " --metrics " + log);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "nothing to train: 3 of 3 epochs done (raise --set epochs=N to train longer)"));
}

TEST_CASE("--resume refuses another graph, another seed and broken files") {
  const std::string checkpoint = pretrained("resume_refuse");
  ToolResult r = run_tool("train graphs/mnist_ae1000.graph --resume " + checkpoint + kSlice);
  CHECK(r.status == 1);
  CHECK(
      contains(r.output, checkpoint + ": error: was written by graph 'graphs/mnist_ae32.graph' with hash "));
  CHECK(contains(r.output, "but 'graphs/mnist_ae1000.graph' has hash "));
  r = run_tool("train graphs/mnist_ae32.graph --seed 9 --set epochs=2 --resume " + checkpoint + kSlice);
  CHECK(r.status == 1);  // --seed together with --set: both apply
  CHECK(contains(r.output, "the checkpoint's run used seed '1', this one '9'"));
  r = run_tool("train graphs/mnist_ae32.graph --resume " + tool_scratch("no-such.safetensors"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, "no-such.safetensors: error: cannot read checkpoint: No such file or directory"));
}

TEST_CASE("--init loads a pretrained encoder into a classifier's first layer, --freeze keeps it there") {
  const std::string ae = pretrained("init_ae");
  const std::string out = tool_scratch("init_clf.safetensors");
  ToolResult r = run_tool("train " + classifier_graph("init_clf") + " --init " + ae +
                          " --map 'code.*->fc1.*' --freeze 'fc1.*'" + kSlice + " --out " + out +
                          " --metrics " + tool_scratch("init_clf.jsonl"));
  CHECK(r.status == 0);
  CHECK(contains(r.output, "initialized from " + ae + ":\n"));
  CHECK(contains(r.output, "  loaded    code.weights -> fc1.weights [32, 784]\n"));
  CHECK(contains(r.output, "  loaded    code.bias -> fc1.bias [32]\n"));
  CHECK(contains(r.output, "  left at initialization  logits.weights [10, 32]\n"));
  CHECK(contains(r.output, "  frozen    fc1.weights, fc1.bias\n"));
  CHECK(tensor_bytes(out, "fc1.weights") == tensor_bytes(ae, "code.weights"));
  CHECK(tensor_bytes(out, "fc1.bias") == tensor_bytes(ae, "code.bias"));
}

TEST_CASE("--init errors name both sides") {
  const std::string ae = pretrained("init_errors_ae");
  const std::string clf = classifier_graph("init_errors_clf");
  ToolResult r = run_tool("train " + clf + " --init " + ae + " --map 'enc1.*->fc1.*'" + kSlice);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "--map 'enc1.*->fc1.*': error: 'enc1.*' matches no tensor in " + ae));
  CHECK(contains(r.output, ae + ": note: it holds code.weights, code.bias, recon.weights, recon.bias"));
  r = run_tool("train " + clf + " --init " + ae + " --map 'recon.*->fc1.*'" + kSlice);
  CHECK(r.status == 1);
  CHECK(contains(
      r.output,
      "--map 'recon.*->fc1.*': error: recon.weights [784, 32] -> fc1.weights [32, 784]: the shapes differ"));
  r = run_tool("train " + clf + " --init " + ae + " --map 'code.*->enc.*'" + kSlice);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "'code.weights' would load into 'enc.weights', which the graph does not have"));
  r = run_tool("train " + clf + " --init " + tool_scratch("no-such.safetensors") + kSlice);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "no-such.safetensors: error: cannot read checkpoint"));
  r = run_tool("train " + clf + " --init " + ae + kSlice);
  CHECK(r.status == 1);
  CHECK(contains(r.output, ae + ": error: no tensor has the name of a parameter of the graph"));
}

TEST_CASE("--resume with other epochs under a cosine schedule warns on stderr how the learning rate moves") {
  const std::string cosine = cosine_graph("cosine", "schedule = cosine(min=0.001)");
  const std::string first = tool_scratch("stretch-cosine.safetensors");
  REQUIRE(run_tool("train " + cosine + " --limit 300 --threads 2" + " --out " + first + " --metrics " +
                   tool_scratch("stretch-cosine.jsonl"))
              .status == 0);
  const std::string resumed = " --limit 300 --threads 2 --set epochs=3 --out " +
                              tool_scratch("stretch-cosine3.safetensors") + " --metrics " +
                              tool_scratch("stretch-cosine3.jsonl");
  ToolResult r = stderr_of("train " + cosine + resumed + " --resume " + first);
  CHECK(r.status == 0);
  CHECK(contains(r.output, first +
                               ": warning: the checkpoint's run planned 1 epoch and this one 3 epochs, and "
                               "the cosine schedule spans a run's epochs: at the resume point (after epoch "
                               "1, step 3) the learning rate jumps back up from 0.001 to 0.07525, and then "
                               "falls to 0.001 by epoch 3 instead of following the checkpoint's curve\n"));
  // The same epochs as an interrupted run planned: no warning; nor for a file from before `epochs`.
  const std::string interrupted =
      with_metadata(first, "epochs", "3", tool_scratch("stretch-interrupted.safetensors"));
  r = stderr_of("train " + cosine + resumed + " --force --resume " + interrupted);
  CHECK(r.status == 0);
  CHECK_FALSE(contains(r.output, "warning"));
  const std::string older = with_metadata(first, "epochs", "", tool_scratch("stretch-older.safetensors"));
  r = stderr_of("train " + cosine + resumed + " --force --resume " + older);
  CHECK(r.status == 0);
  CHECK_FALSE(contains(r.output, "warning"));
  // A constant schedule does not depend on the run's length.
  const std::string constant = cosine_graph("constant", "");
  REQUIRE(run_tool("train " + constant + " --limit 300 --threads 2" + " --out " +
                   tool_scratch("stretch-constant.safetensors") + " --metrics " +
                   tool_scratch("stretch-constant.jsonl"))
              .status == 0);
  r = stderr_of("train " + constant + resumed + " --force --resume " +
                tool_scratch("stretch-constant.safetensors"));
  CHECK(r.status == 0);
  CHECK_FALSE(contains(r.output, "warning"));
}

TEST_CASE("a run whose every parameter is frozen is a clear error, not an internal one") {
  ToolResult r = run_tool("train graphs/mnist_ae32.graph --freeze '*'" + kSlice + " --out " +
                          tool_scratch("all_frozen.safetensors"));
  CHECK(r.status == 1);
  CHECK(
      contains(r.output, "graphs/mnist_ae32.graph:16:1: error: nothing to train: every parameter is frozen"));
  CHECK_FALSE(contains(r.output, "internal error"));
}
