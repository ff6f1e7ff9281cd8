// `--max-memory` as a user meets it: a run whose data, parameters or activations do not fit is refused before
// anything is allocated, naming the place, both sizes and the flag; one that fits trains; a bad value is a
// command-line error; `check` reports the estimate without allocating it.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool_runner.h"

using namespace hg::test;

namespace {

std::string scratch(const std::string& name) {
  return tool_scratch("memory-" + name);
}

std::string run_files(const std::string& name) {
  return " --out " + scratch(name + ".safetensors") + " --metrics " + scratch(name + ".jsonl");
}

// The exit status and peak resident set (KiB) of one command run from the source folder, output dropped.
std::pair<int, long> peak_resident_kib(const std::string& command) {
  const std::string line = "cd " HG_SOURCE_DIR " && " + command + " >/dev/null 2>&1";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};  // the shell's and everything it waited for: the runner
  REQUIRE(wait4(pid, &status, 0, &usage) == pid);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, usage.ru_maxrss};
}

}  // namespace

TEST_CASE(
    "train --max-memory refuses data that does not fit before loading it, naming the file, sizes and flag") {
  ToolResult r = run_tool("train graphs/mnist_ae32.graph --max-memory 10M" + run_files("refused"));
  CHECK(r.status == 1);
  CHECK(contains(
      r.output,
      "data/mnist/train-images-idx3-ubyte: error: loading 60000 samples of 28 x 28 bytes, with their "
      "labels, needs 45.1 MiB, more than the 9.2 MiB left of the memory budget of 10.0 MiB "
      "(--max-memory 10M) after the 796.8 KiB already held\n"
      "graphs/mnist_ae32.graph:6:6: note: data 'train' reads it here; --limit N or --set "
      "data.train.count=N reads fewer samples"));
  CHECK_FALSE(std::filesystem::exists(scratch("refused.safetensors")));
  r = run_command("HOURGLASS_MAX_MEMORY=10M " HG_TOOL " train graphs/mnist_ae32.graph" +
                  run_files("refused"));
  CHECK(r.status == 1);
  CHECK(contains(r.output,
                 "the memory budget of 10.0 MiB ($HOURGLASS_MAX_MEMORY=10M, which --max-memory "
                 "overrides) after the 796.8 KiB already held"));
}

TEST_CASE("a run within --max-memory trains, and --max-memory overrides $HOURGLASS_MAX_MEMORY") {
  ToolResult r =
      run_tool("train graphs/mnist_ae32.graph --max-memory 10M --limit 600 --set epochs=1 --threads 2" +
               run_files("fits"));
  CHECK(r.status == 0);
  CHECK(contains(r.output, "epoch 1  train loss"));
  r = run_command(
      "HOURGLASS_MAX_MEMORY=1K " HG_TOOL
      " train graphs/mnist_ae32.graph --max-memory 10M --limit 600 --set epochs=1 --threads 2 --force" +
      run_files("fits"));
  CHECK(r.status == 0);
}

TEST_CASE("activations over --max-memory are refused at the graph line, by check and train alike") {
  for (const char* verb : {"check", "train"}) {
    ToolResult r = run_tool(std::string(verb) +
                            " graphs/mnist_ae32.graph --max-memory 100M --limit 60000 --set batch=60000" +
                            (verb == std::string("train") ? run_files("batch") : ""));
    CHECK(r.status == 1);
    CHECK_MESSAGE(
        contains(r.output,
                 "graphs/mnist_ae32.graph:9:7: error: the training plan's activations and gradients at "
                 "batch 60000 need 725.1 MiB, more than the 46.6 MiB left of the memory budget of "
                 "100.0 MiB (--max-memory 100M) after the 53.4 MiB already held; the largest, 'x' "
                 "[60000, 784], holds 47040000 values; a smaller batch (--set batch=N) needs less"),
        verb);
  }
}

TEST_CASE("a --max-memory that is not a size is a command-line error naming the flag, in every verb") {
  for (const char* verb : {"check graphs/mnist_ae32.graph", "train graphs/mnist_ae32.graph",
                           "eval graphs/mnist_ae32.graph --ckpt x",
                           "encode graphs/mnist_ae32.graph --ckpt x --node code --out x.csv",
                           "export graphs/mnist_ae32.graph --ckpt x --out x.onnx",
                           "show filters graphs/mnist_ae32.graph --ckpt x",
                           "run graphs/pipelines/sdae_small.pipeline", "report out"})
    for (const char* value : {"10X", "0", "-5M", "lots"}) {
      ToolResult r = run_tool(std::string(verb) + " --max-memory " + value);
      CHECK_MESSAGE(r.status == 2, verb, " ", value);
      CHECK_MESSAGE(
          contains(r.output, "--max-memory '" + std::string(value) +
                                 "' is not a memory size: give bytes, or a number with K, M, G or T"),
          r.output);
    }
  for (const char* verb : {"check", "train", "eval", "encode", "export", "show", "run", "report"})
    CHECK_MESSAGE(contains(run_tool(std::string(verb) + " --help").output, "--max-memory SIZE"), verb);
  ToolResult r =
      run_command("HOURGLASS_MAX_MEMORY=lots " HG_TOOL " check graphs/mnist_ae32.graph --limit 300");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "$HOURGLASS_MAX_MEMORY: error: 'lots' is not a memory size"));
}

TEST_CASE("check reports what training would hold in memory, and allocates none of the parameters") {
  // 784 x 100000 weights: 898 MiB with their gradients and SGD's state, which check must not allocate.
  const std::string path = scratch("wide.graph");
  std::ofstream(path) << "data train = idx(\"mnist/train-images-idx3-ubyte\", scale=1/255)\n"
                         "input x : [784] <- image\nh = dense(x, 100000)\nloss = loss.mse(h, h)\n"
                         "train { batch = 10 }\n";
  ToolResult r = run_tool("check " + path + " --limit 100 --max-memory 2G");
  CHECK(r.status == 0);
  CHECK(contains(r.output,
                 "memory (estimated, nothing allocated; budget 2.00 GiB, --max-memory 2G):\n"
                 "  parameters, gradients, sgd state                898.4 MiB\n"
                 "  data train                                       76.6 KiB\n"
                 "  training plan, batch 10                          11.5 MiB\n"
                 "  total                                           909.9 MiB\n"));
  const auto [status, peak] = peak_resident_kib(HG_TOOL " check " + path + " --limit 100 --max-memory 2G");
  CHECK(status == 0);
  MESSAGE("check's peak resident set: ", peak / 1024, " MiB");
  CHECK(peak < 400 * 1024);  // far below the 898 MiB a Model would allocate
  // With every parameter frozen there is no training plan to estimate (nor to build).
  const std::string frozen = scratch("frozen.graph");
  std::ofstream(frozen) << read_file(path) << "freeze \"*\"\n";
  r = run_tool("check " + frozen + " --limit 100 --max-memory 2G");
  CHECK(r.status == 0);
  CHECK(contains(r.output,
                 "  data train                                       76.6 KiB\n"
                 "  total                                           898.4 MiB\n"));
  r = run_tool("check " + path + " --limit 100 --max-memory 800M");
  CHECK(r.status == 1);
  CHECK(contains(r.output, path +
                               ":3:5: error: the parameters with their gradients and sgd's state need 898.4 "
                               "MiB, more than the memory budget of 800.0 MiB (--max-memory 800M)"));
}
