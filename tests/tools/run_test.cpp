// `hourglass run PIPELINE` end to end: the sdae_small example pretrains, fine-tunes and beats the same
// classifier from scratch; a second run skips every stage; a changed graph reruns its stage and the ones
// downstream only; --force reruns all, bit for bit; a failed stage stops the run with a resume hint and
// keeps what came before; an interrupted train stage resumes. Each test works on its own copy of the files.
#include <nlohmann/json.hpp>

#include "tool_runner.h"

using namespace hg::test;
namespace fs = std::filesystem;

namespace {

const std::string kFlags = " --limit 3000 --threads 2";

// A fresh folder under the build's test-tools/ holding graphs/common and graphs/pipelines; the example's
// outputs ("../../out/...") land in its out/.
std::string copy_examples(const std::string& name) {
  const std::string dir = tool_scratch(name);
  fs::remove_all(dir);
  fs::create_directories(dir + "/graphs");
  for (const char* folder : {"graphs/common", "graphs/pipelines"})
    fs::copy(std::string(HG_SOURCE_DIR) + "/" + folder, dir + "/" + folder, fs::copy_options::recursive);
  return dir;
}

double accuracy(const std::string& eval_json) {
  std::ifstream in(eval_json);
  REQUIRE(in);
  return nlohmann::json::parse(in).at("accuracy").get<double>();
}

void replace_in_file(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = read_file(path);
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  std::ofstream(path, std::ios::trunc) << text.replace(at, from.size(), to);
}

// A small pipeline of tiny stages on a 300-sample slice, in its own folder, for the failure tests.
std::string small_pipeline(const std::string& name, const std::string& stages) {
  const std::string dir = copy_examples(name) + "/graphs/pipelines";
  std::ofstream(dir + "/bad.graph") << "include \"../common/sdae_small.graph\"\nenc1 = encoder(x)\n"
                                       "recon = dense(enc1, 784) |> sigmod\nloss = loss.bce(recon, x)\n"
                                       "train { optimizer = sgd(lr=0.1) batch = 20 epochs = 1 seed = 1 }\n";
  std::ofstream(dir + "/small.pipeline") << stages;
  return dir + "/small.pipeline";
}

}  // namespace

TEST_CASE("run --help describes pipelines, and command-line mistakes are exit code 2") {
  ToolResult r = run_tool("run --help");
  CHECK(r.status == 0);
  for (const char* text : {"stage NAME = train \"GRAPH\"", "eval STAGE", "encode STAGE node NODE", "--force",
                           "--dry-run", "OUT.stamp"})
    CHECK_MESSAGE(contains(r.output, text), text);
  CHECK(contains(run_tool("--help").output, "run PIPELINE"));
  r = run_tool("run");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "hourglass run: missing the PIPELINE file; see 'hourglass run --help'"));
  r = run_tool("run graphs/pipelines/sdae_small.pipeline --forse");
  CHECK(r.status == 2);
  r = run_tool("run " + tool_scratch("no-such.pipeline"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, "no-such.pipeline: error: cannot read the pipeline file"));
}

TEST_CASE("a pipeline with errors runs nothing and reports them all") {
  const std::string pipeline = small_pipeline(
      "run_parse_errors",
      "stage dae1 = train \"sdae_small/layer1.graph\" -> \"out/dae1.safetensors\"\n"
      "stage dae2 = train \"sdae_small/layer2.graph\" init dea1 { \"enc1.*\" } -> \"out/dae2.safetensors\"\n"
      "stage dae1 = eval dae2\n");
  const ToolResult r = run_tool("run " + pipeline + " --limit 300");
  CHECK(r.status == 1);
  CHECK(contains(r.output, pipeline + ":2:51: error: unknown stage 'dea1' (did you mean 'dae1'?)\n"));
  CHECK(contains(r.output, pipeline + ":3:7: error: stage 'dae1' is already defined\n" + pipeline +
                               ":1:7: note: first defined here\n"));
  CHECK_FALSE(contains(r.output, "[stage"));
}

TEST_CASE("sdae_small: pretraining beats scratch, a rerun skips what is up to date and redoes what changed") {
  const std::string dir = copy_examples("run_sdae");
  const std::string pipeline = dir + "/graphs/pipelines/sdae_small.pipeline";
  const std::string out = dir + "/out/sdae_small/";
  ToolResult r = run_tool("run " + pipeline + kFlags);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  for (const char* stage : {"dae1", "dae2", "finetune", "scratch", "pretrained_accuracy", "scratch_accuracy"})
    CHECK_MESSAGE(contains(r.output, "[stage " + std::string(stage) + "] "), stage);
  CHECK(contains(r.output, "(no output yet)"));
  CHECK(contains(r.output, "  loaded    enc2.weights -> enc2.weights [256, 256]\n"));
  CHECK(contains(r.output, "6 stages ran, 0 up to date"));
  const double pretrained = accuracy(out + "pretrained_accuracy.eval.json"),
               scratch = accuracy(out + "scratch_accuracy.eval.json");
  MESSAGE("test accuracy on the slice: pretrained ", pretrained, ", scratch ", scratch);
  CHECK(pretrained > scratch + 0.1);
  CHECK(pretrained > 0.75);
  CHECK_FALSE(fs::exists(out + "finetune.init.safetensors"));  // the merged inits are removed
  const std::string dae1 = read_file(out + "dae1.safetensors"),
                    scratch_bytes = read_file(out + "scratch.safetensors");

  r = run_tool("run " + pipeline + kFlags);
  CHECK(r.status == 0);
  CHECK(count(r.output, "] up to date: ") == 6);
  CHECK(contains(r.output, "[stage pretrained_accuracy] up to date: "));
  CHECK(contains(r.output, "accuracy "));  // a skipped eval shows its stored result
  CHECK(contains(r.output, "0 stages ran, 6 up to date"));

  r = run_tool("run " + pipeline + " --limit 2000 --threads 2 --dry-run");  // another slice: all would rerun
  CHECK(r.status == 0);
  CHECK(count(r.output, "would run: ") == 6);
  CHECK(contains(r.output, "[stage dae1] would run: train "));
  CHECK(contains(r.output, "(run flags changed)"));

  replace_in_file(dir + "/graphs/pipelines/sdae_small/layer2.graph", "rate=0.2", "rate=0.3");
  r = run_tool("run " + pipeline + kFlags);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "[stage dae1] up to date"));
  CHECK(contains(r.output, "[stage dae2] train "));
  CHECK(contains(r.output, "(graph changed)"));
  CHECK(contains(r.output, "[stage finetune] train "));
  CHECK(contains(r.output, "('dae2' reran)"));
  CHECK(contains(r.output, "[stage scratch] up to date"));
  CHECK(contains(r.output, "[stage pretrained_accuracy] eval finetune"));
  CHECK(contains(r.output, "[stage scratch_accuracy] up to date"));
  CHECK(contains(r.output, "3 stages ran, 3 up to date"));

  r = run_tool("run " + pipeline + kFlags + " --force");
  CHECK(r.status == 0);
  CHECK(count(r.output, "(--force)") == 6);
  CHECK(read_file(out + "dae1.safetensors") == dae1);  // same seed and threads: the same bytes
  CHECK(read_file(out + "scratch.safetensors") == scratch_bytes);
}

TEST_CASE("a failed stage stops the run, keeps the stages before it and says how to continue") {
  const std::string pipeline = small_pipeline(
      "run_failure",
      "stage first = train \"sdae_small/layer1.graph\" set { epochs=1 } -> \"out/first.safetensors\"\n"
      "stage codes = encode first node enc1 -> \"out/codes.csv\"\n"
      "stage broken = train \"bad.graph\" init first { \"enc1.*\" }\n"
      "    -> \"out/broken.safetensors\"\n"
      "stage report = eval broken\n");
  const std::string out = fs::path(pipeline).parent_path().string() + "/out/";
  ToolResult r = run_tool("run " + pipeline + " --limit 300 --threads 2");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "bad.graph:3:29: error: unknown op 'sigmod' (did you mean 'sigmoid'?)\n" +
                               pipeline + ":3:7: note: in stage 'broken'\n"));
  CHECK(contains(r.output, "hourglass run: stages before 'broken' are up to date; rerun `hourglass run " +
                               pipeline + " --limit 300` to continue from 'broken'\n"));
  CHECK_FALSE(contains(r.output, "[stage report]"));
  CHECK(fs::exists(out + "first.safetensors.stamp"));
  CHECK(read_file(out + "codes.csv").rfind("label,f0,f1,", 0) == 0);

  r = run_tool("run " + pipeline + " --limit 300 --threads 2");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "[stage first] up to date"));
  CHECK(contains(r.output, "[stage codes] up to date"));
  CHECK(contains(r.output, "to continue from 'broken'"));

  replace_in_file(fs::path(pipeline).parent_path().string() + "/bad.graph", "sigmod", "sigmoid");
  r = run_tool("run " + pipeline + " --limit 300 --threads 2");
  CHECK_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output, "[stage first] up to date"));
  CHECK(contains(r.output, "  loaded    enc1.weights -> enc1.weights [256, 784]\n"));
  CHECK(contains(r.output, "[stage report] eval broken"));
  CHECK(contains(r.output, "2 stages ran, 2 up to date"));
}

TEST_CASE("a stage that fails at run time names its stage, and a first stage's hint says so") {
  const std::string pipeline =
      small_pipeline("run_runtime_failure",
                     "stage codes = train \"sdae_small/layer1.graph\" -> \"out/a.safetensors\"\n"
                     "stage wrong = encode codes node enc9 -> \"out/codes.npy\"\n");
  ToolResult r = run_tool("run " + pipeline + " --limit 100 --threads 2 --set epochs=1");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "--node 'enc9': error: "));
  CHECK(contains(r.output, "has no node 'enc9' (did you mean 'enc1'"));
  CHECK(contains(r.output, pipeline + ":2:7: note: in stage 'wrong'\n"));
  CHECK(contains(r.output, "rerun `hourglass run " + pipeline +
                               " --limit 100 --set epochs=1` to continue from 'wrong'"));

  const std::string rule =
      small_pipeline("run_rule_failure",
                     "stage first = train \"sdae_small/layer1.graph\" -> \"out/a.safetensors\"\n"
                     "stage second = train \"sdae_small/layer2.graph\" init first { \"enc2.*\" }\n"
                     "    -> \"out/b.safetensors\"\n");
  r = run_tool("run " + rule + " --limit 100 --threads 2 --set epochs=1");
  CHECK(r.status == 1);
  CHECK(contains(r.output, rule + ":2:61: error: 'enc2.*' matches no tensor in "));
  CHECK(contains(r.output, rule + ":2:7: note: in stage 'second'\n"));

  const std::string missing = small_pipeline(
      "run_first_failure", "stage first = train \"sdae_small/no-such.graph\" -> \"out/a.safetensors\"\n");
  r = run_tool("run " + missing + " --limit 100");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "hourglass run: no stage has finished; rerun `hourglass run " + missing +
                               " --limit 100` to continue from 'first'"));
}

TEST_CASE("an interrupted train stage resumes from its last checkpoint to the same bytes") {
  const std::string pipeline = small_pipeline(
      "run_resume",
      "stage layer = train \"sdae_small/layer1.graph\" set { epochs=2 } -> \"out/layer.safetensors\"\n");
  const std::string out = fs::path(pipeline).parent_path().string() + "/out/";
  const std::string flags = " --limit 300 --threads 2";
  REQUIRE(run_tool("run " + pipeline + flags).status == 0);
  const std::string straight = read_file(out + "layer.safetensors");
  // As if the run had stopped after epoch 1: that epoch's checkpoint, and a stamp from a run that started.
  REQUIRE(run_tool("train " + fs::path(pipeline).parent_path().string() + "/sdae_small/layer1.graph" + flags +
                   " --set epochs=1 --out " + out + "layer.safetensors --metrics " + out +
                   "layer.metrics.jsonl")
              .status == 0);
  replace_in_file(out + "layer.safetensors.stamp", "\"complete\": true", "\"complete\": false");
  const ToolResult r = run_tool("run " + pipeline + flags);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "(did not finish; resuming its checkpoint)"));
  CHECK(contains(r.output, "after epoch 1"));
  CHECK_FALSE(contains(r.output, "\nepoch 1 "));
  CHECK(read_file(out + "layer.safetensors") == straight);
  CHECK(contains(run_tool("run " + pipeline + flags).output, "[stage layer] up to date"));
}
