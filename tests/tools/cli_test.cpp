// The `hourglass` runner as a user meets it: exit codes (0 ok, 1 user error, 2 bad command line), --help on
// every verb, clear messages for bad flags, graphs, data and checkpoints, and every example graph in
// graphs/ checking, training for a step and evaluating.
#include <doctest/doctest.h>
#include <regex>

#include <sys/wait.h>
#include "tools/tool_runner.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace {

using Result = hg::test::ToolResult;
using hg::test::contains;

Result run(const std::string& arguments) {
  return hg::test::run_tool(arguments);
}
std::string scratch(const std::string& name) {
  return hg::test::tool_scratch("cli-" + name);
}

}  // namespace

TEST_CASE("without a verb the runner prints its usage and fails; help succeeds") {
  Result r = run("");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "usage: hourglass <verb>"));
  CHECK(run("--help").status == 0);
}

TEST_CASE("--version names the commit the runner was built from, and whether the tree had changes") {
  Result r = run("--version");
  CHECK(r.status == 0);
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_match(r.output, m,
                                   std::regex("hourglass [0-9]+\\.[0-9]+\\.[0-9]+ \\(commit "
                                              "([0-9a-f]{12}|unknown)(, with uncommitted changes)?\\)\n")),
                  r.output);
  // The stamp is a commit of this repository (a build from a checkout), or "unknown" outside one.
  if (m[1] != "unknown")
    CHECK(std::system(("git -C " HG_SOURCE_DIR " cat-file -e " + m[1].str() + "^{commit}").c_str()) == 0);
}

TEST_CASE("an unknown verb is refused with a suggestion") {
  Result r = run("trian graphs/mnist_ae32.graph");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "hourglass: unknown verb 'trian' (did you mean 'train'?)"));
}

TEST_CASE("every verb has --help") {
  for (const char* verb : {"check", "train", "eval"}) {
    CAPTURE(verb);
    Result r = run(std::string(verb) + " --help");
    CHECK(r.status == 0);
    CHECK(contains(r.output, std::string("usage: hourglass ") + verb));
    CHECK(contains(r.output, "--plugin-dir"));
  }
  CHECK(contains(run("train --help").output, "--set"));
  CHECK(contains(run("eval --help").output, "--ckpt"));
}

TEST_CASE("bad flags are command-line errors with exit code 2") {
  CHECK(run("train graphs/mnist_ae32.graph --threads -3").status == 2);
  Result r = run("train graphs/mnist_ae32.graph --frobnicate");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "frobnicate"));
  r = run("eval graphs/mnist_ae32.graph");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "ckpt"));
  r = run("check");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "missing the GRAPH file"));
}

TEST_CASE("a bad --set names the flag and the problem") {
  Result r = run("train graphs/mnist_ae32.graph --set epochs=abc");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "--set epochs=abc: error: 'abc' is not a number"));
  r = run("train graphs/mnist_ae32.graph --set epoch=3");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "unknown setting 'epoch' (did you mean 'epochs'?)"));
}

TEST_CASE("check lists nodes, parameters with counts, and terms") {
  Result r = run("check graphs/mnist_ae32.graph");
  CHECK(r.status == 0);
  CHECK(contains(r.output, "code.weights"));
  CHECK(contains(r.output, "25088"));
  CHECK(contains(r.output, "50992"));  // total parameters of 784-32-784
  CHECK(contains(r.output, "loss.bce"));
  CHECK(contains(r.output, "[N, 32]"));
  CHECK(contains(r.output, "train: adam(lr=0.001), schedule constant, batch 256"));
}

TEST_CASE("idle OpenMP threads spin briefly, then sleep, unless the user chose a policy") {
  // libgomp prints its settings when it loads (OMP_DISPLAY_ENV), once: the runner supplies its defaults
  // through its own getenv instead of re-executing itself (which printed a second block). The displayed
  // policy alone proves nothing: it says 'PASSIVE' even when the variable is unset and threads spin
  // 300,000 times.
  const std::string tool = std::string(HG_TOOL) + " check graphs/mnist_ae32.graph";
  auto last_block = [](const std::string& output) {
    return output.substr(output.rfind("OPENMP DISPLAY ENVIRONMENT BEGIN"));
  };
  Result r =
      hg::test::run_command("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose " + tool);
  CHECK(r.status == 0);
  CHECK(contains(last_block(r.output), "GOMP_SPINCOUNT = '1000'"));
  CHECK(r.output.find("OPENMP DISPLAY ENVIRONMENT BEGIN") ==
        r.output.rfind("OPENMP DISPLAY ENVIRONMENT BEGIN"));
  r = hg::test::run_command("env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=0 OMP_DISPLAY_ENV=verbose " + tool);
  CHECK(r.status == 0);
  CHECK(contains(last_block(r.output), "GOMP_SPINCOUNT = '0'"));  // the user's spin count wins
  r = hg::test::run_command("OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose " + tool);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "OMP_WAIT_POLICY = 'ACTIVE'"));
  CHECK_FALSE(contains(r.output, "GOMP_SPINCOUNT = '1000'"));
}

TEST_CASE("check refuses a batch larger than the training data, as train would") {
  Result r = run("check graphs/mnist_ae32.graph --limit 100");
  CHECK(r.status == 1);
  CHECK(contains(
      r.output, "graphs/mnist_ae32.graph:16:1: error: batch 256 is larger than the 100 samples of the data"));
  CHECK(run("check graphs/mnist_ae32.graph --limit 100 --set batch=100").status == 0);
}

TEST_CASE(
    "a graph whose parameters cannot fit in memory is refused at its largest one, not by the allocator") {
  const std::string path = scratch("huge.graph");
  std::ofstream(path) << "input x : [784] <- image\nr = dense(x, 1000000000)\nloss = loss.mse(r, r)\n";
  for (const char* verb : {"check ", "train "}) {
    Result r = run(verb + path);
    CHECK(r.status == 1);
    CHECK(contains(r.output, path + ":2:5: error: the parameters with their gradients and sgd's state need "
                                    "8.6 TiB, more than the "));
    CHECK(contains(r.output,
                   " of memory this machine has available (MemAvailable in /proc/meminfo); the "
                   "largest, 'r.weights' [1000000000, 784], holds 784000000000 values; --max-memory "
                   "SIZE sets a budget instead"));
    CHECK_FALSE(contains(r.output, "internal error"));
  }
}

TEST_CASE("check on a pipeline file points to run --dry-run instead of reporting graph syntax errors") {
  Result r = run("check graphs/pipelines/sda.pipeline");
  CHECK(r.status == 1);
  CHECK(r.output ==
        "graphs/pipelines/sda.pipeline: error: is a pipeline file; `hourglass run "
        "graphs/pipelines/sda.pipeline "
        "--dry-run` checks it and says which stages would run\n");
}

TEST_CASE("a broken graph file fails check with file:line:col and exit code 1") {
  const std::string path = scratch("broken.graph");
  std::ofstream(path) << "input x : [4] <- image\nh = dence(x, 2)\nloss = loss.mse(h, x)\n";
  Result r = run("check " + path);
  CHECK(r.status == 1);
  CHECK(contains(r.output, path + ":2:5: error: unknown op 'dence' (did you mean 'dense'?)"));
  r = run("check " + scratch("no-such.graph"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, "no-such.graph: error: cannot read graph file: No such file or directory"));
}

TEST_CASE("a missing data file is an error at the graph line that names it, saying where it was looked for") {
  const std::string empty = scratch("empty-data");
  std::filesystem::create_directories(empty);
  Result r = run("train graphs/mnist_ae32.graph --data-dir " + empty + " --set epochs=1 --out " +
                 scratch("missing-data.safetensors"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, "graphs/mnist_ae32.graph:6:6: error: data 'train': no file '" + empty +
                               "/mnist/train-images-idx3-ubyte'"));
  CHECK(contains(r.output,
                 "graphs/mnist_ae32.graph:6:6: note: 'mnist/train-images-idx3-ubyte' is looked for in "
                 "the data folder '" +
                     empty + "': choose it with --data-dir DIR or $HOURGLASS_DATA"));
}

TEST_CASE("a fresh train run refuses an --out holding another run unless --force") {
  const std::string out = scratch("other-run.safetensors");
  std::filesystem::remove(out);
  Result r = run("train graphs/mnist_ae32.graph --set epochs=1 --limit 256 --out " + out + " --metrics " +
                 scratch("other-run.jsonl"));
  REQUIRE(r.status == 0);
  r = run("train graphs/mnist_mlp.graph --set epochs=1 --limit 256 --out " + out + " --metrics " +
          scratch("other-run.jsonl"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, out + ": error: --out holds another run (of 'graphs/mnist_ae32.graph', epoch 1)"));
  CHECK(contains(r.output, "write this run elsewhere with --out, or overwrite it with --force"));
  r = run("train graphs/mnist_mlp.graph --set epochs=1 --limit 256 --force --out " + out + " --metrics " +
          scratch("other-run.jsonl"));
  CHECK(r.status == 0);
  r = run("train graphs/mnist_mlp.graph --set epochs=1 --limit 256 --out " + out + " --metrics " +
          scratch("other-run.jsonl"));
  CHECK(r.status == 0);  // the same run again: started over, with a note
  CHECK(
      contains(r.output, out + ": note: --out holds epoch 1 of this same run, which starting over replaces"));
}

TEST_CASE("missing or corrupt checkpoints are clear errors") {
  Result r = run("eval graphs/mnist_ae32.graph --ckpt " + scratch("missing.safetensors"));
  CHECK(r.status == 1);
  CHECK(contains(r.output, "missing.safetensors: error: cannot read checkpoint"));
  const std::string garbage = scratch("garbage.safetensors");
  std::ofstream(garbage) << "not a checkpoint at all, just some text that is long enough";
  r = run("eval graphs/mnist_ae32.graph --ckpt " + garbage);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "garbage.safetensors: error: truncated: header length"));
  const std::string bad_json = scratch("bad_json.safetensors");
  {
    std::ofstream out(bad_json, std::ios::binary);
    const uint64_t length = 5;
    out.write(reinterpret_cast<const char*>(&length), 8);
    out << "{oops";
  }
  r = run("eval graphs/mnist_ae32.graph --ckpt " + bad_json);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "bad_json.safetensors: error: corrupt safetensors header"));
}

TEST_CASE("a checkpoint from another graph is refused, naming the tensor") {
  const std::string out = scratch("mlp.safetensors");
  REQUIRE(run("train graphs/mnist_mlp.graph --set epochs=1 --limit 256 --out " + out + " --metrics " +
              scratch("mlp.jsonl"))
              .status == 0);
  Result r = run("eval graphs/mnist_ae32.graph --ckpt " + out);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "checkpoint has no tensor 'code.weights' that the graph needs"));
}

TEST_CASE("every example graph checks, trains for a step and evaluates") {
  int graphs = 0;
  const std::filesystem::path root = HG_SOURCE_DIR "/graphs";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const std::string relative = std::filesystem::relative(entry.path(), root).string();
    if (entry.path().extension() != ".graph" || relative.rfind("invalid/", 0) == 0 ||
        relative.rfind("common/", 0) == 0 || relative.rfind("real/", 0) == 0)
      continue;  // broken on purpose, only included by others, or sklearn's data (the next test)
    ++graphs;
    std::string name = relative.substr(0, relative.size() - 6);  // three graphs are called classifier
    std::replace(name.begin(), name.end(), '/', '_');
    const std::string graph = "graphs/" + relative;
    CAPTURE(graph);
    CHECK(run("check " + graph).status == 0);
    const std::string checkpoint = scratch(name + ".safetensors"), metrics = scratch(name + ".jsonl");
    Result r = run("train " + graph + " --set epochs=1 --limit 256 --set batch=64 --out " + checkpoint +
                   " --metrics " + metrics);
    CHECK(r.status == 0);
    CHECK(contains(r.output, "epoch 1"));
    std::ifstream log(metrics);
    std::string line;
    CHECK(std::getline(log, line));
    CHECK(contains(line, "\"epoch\":1,"));
    CHECK(contains(line, "\"test_loss\""));
    r = run("eval " + graph + " --ckpt " + checkpoint + " --limit 100");
    CHECK(r.status == 0);
    // --limit trims the file; a test binding that keeps some classes of it holds fewer than 100
    std::ifstream in(entry.path());
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    CHECK(contains(r.output, contains(text, "classes=[") ? "samples): loss" : "(100 samples): loss"));
  }
  CHECK(graphs >= 11);
}

// graphs/real/ reads the data python3-sklearn ships, which scripts/sklearn-data.sh copies into data/sklearn;
// without it the test is skipped (exit 77, SKIP_RETURN_CODE), not passed.
TEST_CASE("every real-data example checks, trains for a step and evaluates, scoring each sample") {
  if (!std::filesystem::exists(HG_SOURCE_DIR "/data/sklearn/breast_cancer.csv")) {
    std::printf("skipped: data/sklearn is missing; run scripts/sklearn-data.sh\n");
    std::fflush(stdout);
    std::_Exit(77);
  }
  int graphs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(HG_SOURCE_DIR "/graphs/real")) {
    if (entry.path().extension() != ".graph") continue;
    ++graphs;
    const std::string name = entry.path().stem().string(), graph = "graphs/real/" + name + ".graph";
    std::ifstream in(entry.path());
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    CAPTURE(graph);
    CHECK(run("check " + graph).status == 0);
    const std::string checkpoint = scratch("real-" + name + ".safetensors");
    Result r = run("train " + graph + " --set epochs=1 --limit 256 --set batch=64 --out " + checkpoint +
                   " --metrics " + scratch("real-" + name + ".jsonl"));
    CHECK(r.status == 0);
    CHECK(contains(r.output, "epoch 1"));
    if (!contains(text, "data test")) continue;  // patches: training data only
    // --limit trims the source before the split, so the held-out part is a share of the 256 rows
    const std::string scores = scratch("real-" + name + ".scores.csv");
    r = run("eval " + graph + " --ckpt " + checkpoint + " --limit 256 --per-sample " + scores);
    CHECK(r.status == 0);
    CHECK(contains(r.output, "samples): loss"));
    std::ifstream per_sample(scores);
    std::string line;
    REQUIRE(std::getline(per_sample, line));
    CHECK(line == "index,label,loss");
    int rows = 0;
    while (std::getline(per_sample, line)) ++rows;
    CHECK(contains(r.output, "(" + std::to_string(rows) + " samples)"));
  }
  CHECK(graphs >= 5);
}

TEST_CASE("plugins lists every built-in term with its parameters and version") {
  Result r = run("plugins");
  CHECK(r.status == 0);
  for (const char* term :
       {"loss.mse(prediction, target)", "loss.bce(prediction, target)", "loss.softmax_ce(logits, target)",
        "reg.l1(activations)", "reg.kl_sparsity(activations)", "reg.l2(weights)", "reg.contractive(",
        "corrupt.masking(src)", "corrupt.gaussian(src)", "corrupt.salt_pepper(src)", "corrupt.dropout(src)"})
    CHECK_MESSAGE(contains(r.output, term), term);
  CHECK(contains(r.output, "rho        float default 0.05"));
  CHECK(contains(r.output, "version 1.0.0"));
  // What each input must be, as the lowering enforces it.
  CHECK(contains(r.output, "reg.l2(weights)  regularizer, version 1.0.0"));
  CHECK(contains(r.output, "      weights: a parameter\n"));
  CHECK(contains(r.output, "      code: an activation; weights: a parameter\n"));
  CHECK(contains(
      r.output,
      "      prediction: an activation; target: an activation, a target (a data input) or a label\n"));
}

TEST_CASE("plugins lists a plugin folder's broken libraries and then fails, so scripts notice") {
  Result r = run(std::string("plugins --plugin-dir ") + HG_TEST_PLUGIN_DIR + "/abi");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "plugins that failed to load:"));
  CHECK(contains(r.output, "plugin built for plugin ABI 1, but this hourglass loads ABI 2 (2.0) only"));
  CHECK(contains(r.output, "plugin built for plugin ABI 999"));
  CHECK(contains(r.output, "loss.mse(prediction, target)"));  // the good ones are still listed
}

TEST_CASE("check and train warn about plugins that failed to load, even when the graph needs none of them") {
  Result r = run(std::string("check graphs/mnist_ae32.graph --plugin-dir ") + HG_TEST_PLUGIN_DIR + "/abi");
  CHECK(r.status == 0);
  CHECK(contains(r.output,
                 "warning: 2 plugins failed to load, so their terms are missing (`hourglass plugins` "
                 "lists them):"));
  CHECK(contains(r.output, "plugin built for plugin ABI 999"));
  CHECK(contains(r.output, "graphs/mnist_ae32.graph: ok"));
}

TEST_CASE("a --plugin-dir that does not exist or names a file is a command-line error") {
  Result r = run("check graphs/mnist_ae32.graph --plugin-dir no/such/plugins");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "hourglass check: --plugin-dir 'no/such/plugins': no such folder"));
  r = run("plugins --plugin-dir graphs/mnist_ae32.graph");
  CHECK(r.status == 2);
  CHECK(contains(r.output,
                 "hourglass plugins: --plugin-dir 'graphs/mnist_ae32.graph' is a file, not a folder "
                 "(give the folder that holds the plugin: --plugin-dir 'graphs')"));
}

TEST_CASE("a train setting given as an option points at --set") {
  Result r = run("train graphs/mnist_ae32.graph --epochs 3");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "(train settings are given as --set epochs=3)"));
  r = run("check graphs/mnist_ae32.graph --batch=64");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "(train settings are given as --set batch=64)"));
  r = run("train graphs/mnist_ae32.graph --frobnicate");
  CHECK_FALSE(contains(r.output, "--set"));
}

namespace {
// Width and height from a PNG's IHDR chunk, or {0, 0} when the file is not a PNG.
std::pair<uint32_t, uint32_t> png_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[24] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (!in || std::memcmp(header, signature, 8) != 0) return {0, 0};
  auto be32 = [&](int at) {
    return uint32_t(header[at]) << 24 | uint32_t(header[at + 1]) << 16 | uint32_t(header[at + 2]) << 8 |
           header[at + 3];
  };
  return {be32(16), be32(20)};
}
}  // namespace

TEST_CASE("train --profile prints each plan step's share of a training step") {
  Result r = run("train graphs/mnist_ae32.graph --set epochs=1 --set batch=100 --limit 500 --profile --out " +
                 scratch("profile.safetensors") + " --metrics " + scratch("profile.jsonl"));
  CHECK(r.status == 0);
  CHECK(contains(r.output, "profile: mean wall time per training step over 4 steps (the first left out)"));
  CHECK(contains(r.output, "code.dense (dense)"));
  CHECK(contains(r.output, "optimizer_step (optimizer_step)"));
  CHECK(contains(r.output, "between steps: data hand-off"));
  CHECK(contains(r.output, "100.0%  total"));
}

TEST_CASE("show writes filter and reconstruction grids as PNG") {
  const std::string checkpoint = scratch("dae.safetensors");
  REQUIRE(run("train graphs/gallery/denoising_masking.graph --set epochs=1 --limit 200 --force --out " +
              checkpoint + " --metrics " + scratch("dae.jsonl"))
              .status == 0);
  Result r = run("show filters graphs/gallery/denoising_masking.graph --ckpt " + checkpoint +
                 " --count 16 --zoom 1 --out " + scratch("filters.png"));
  CHECK(r.status == 0);
  CHECK(contains(r.output, "16 filters of 'code.weights' as 28x28 tiles"));
  CHECK(png_size(scratch("filters.png")) == std::make_pair(uint32_t(4 * 29 + 1), uint32_t(4 * 29 + 1)));
  r = run("show recon graphs/gallery/denoising_masking.graph --ckpt " + checkpoint +
          " --count 5 --zoom 1 --out " + scratch("recon.png"));
  CHECK(r.status == 0);
  CHECK(contains(r.output, "columns: input, 'noisy', 'recon'"));  // the corrupted input sits in the middle
  CHECK(png_size(scratch("recon.png")) == std::make_pair(uint32_t(3 * 29 + 1), uint32_t(5 * 29 + 1)));
  r = run("show faces graphs/gallery/denoising_masking.graph --ckpt " + checkpoint);
  CHECK(r.status == 2);
  CHECK(contains(r.output, "show draws 'filters', 'recon', 'samples' or 'latent', not 'faces'"));
  r = run("show filters graphs/gallery/denoising_masking.graph --ckpt " + checkpoint +
          " --param code.wieghts");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "no parameter 'code.wieghts' (did you mean 'code.weights'?)"));
  r = run("show samples graphs/gallery/denoising_masking.graph --ckpt " + checkpoint);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "the graph has no sample.normal code to draw from"));
}

TEST_CASE("eval --noise scores a model on uniform-noise images") {
  const std::string checkpoint = scratch("ae32_noise.safetensors");
  REQUIRE(run("train graphs/mnist_ae32.graph --set epochs=1 --limit 512 --out " + checkpoint + " --metrics " +
              scratch("ae32_noise.jsonl"))
              .status == 0);
  Result r = run("eval graphs/mnist_ae32.graph --ckpt " + checkpoint + " --noise 300");
  CHECK(r.status == 0);
  CHECK(contains(r.output, "on uniform noise (300 samples): loss"));
  CHECK(run("eval graphs/mnist_ae32.graph --ckpt " + checkpoint + " --noise -4").status == 2);
}

TEST_CASE("show samples decodes codes of a VAE; show latent wants a 2-D code") {
  const std::string checkpoint = scratch("vae.safetensors");
  REQUIRE(run("train graphs/gallery/vae.graph --set epochs=1 --limit 256 --force --out " + checkpoint +
              " --metrics " + scratch("vae.jsonl"))
              .status == 0);
  const std::string png = scratch("vae.samples.png");
  std::filesystem::remove(png);
  Result r = run("show samples graphs/gallery/vae.graph --ckpt " + checkpoint + " --count 16 --out " + png);
  CHECK(r.status == 0);
  CHECK(contains(r.output, "16 samples z ~ N(0, I) decoded by 'recon' from 'z'"));
  CHECK(std::filesystem::file_size(png) > 100);
  r = run("show latent graphs/gallery/vae.graph --ckpt " + checkpoint);
  CHECK(r.status == 1);
  CHECK(contains(r.output,
                 "graphs/gallery/vae.graph:8:10: error: show latent draws a 2-D code, but 'z' is [N, 20]"));
}

TEST_CASE("gradcheck passes every built-in term, on default and given shapes") {
  for (const char* term :
       {"loss.mse", "loss.bce", "loss.softmax_ce", "reg.l1", "reg.kl_sparsity", "reg.l2", "reg.contractive",
        "reg.kl_normal", "corrupt.masking", "corrupt.gaussian", "corrupt.salt_pepper", "corrupt.dropout"}) {
    Result r = run(std::string("gradcheck ") + term);
    CHECK_MESSAGE(r.status == 0, term, r.output);
    CHECK_MESSAGE(contains(r.output, std::string(term) + ": ok (tolerance 0.01)"), term);
  }
  Result r = run("gradcheck reg.contractive --shape 16x32 --shape 32x20");
  CHECK(r.status == 0);
  CHECK(contains(r.output, "reg.contractive input 'weights' [32x20]: worst relative error"));
  CHECK(run("gradcheck reg.kl_sparsity --param rho=0.2").status == 0);
}

TEST_CASE("gradcheck fails a wrong gradient or apply_gradient, naming the term and the input") {
  const std::string dir = std::string(" --plugin-dir ") + HG_TEST_PLUGIN_DIR + "/wrong";
  Result r = run("gradcheck wrong.product" + dir);
  CHECK(r.status == 1);
  CHECK(contains(r.output, "wrong.product input 'a' [4x8]: worst relative error"));
  CHECK(contains(r.output,
                 "gradcheck: error: gradient of 'wrong.product' disagrees with finite differences for "
                 "input 'b': worst relative error 0.5 > tolerance 0.01"));
  CHECK_FALSE(contains(r.output, "for input 'a'"));
  r = run("gradcheck wrong.double" + dir);
  CHECK(r.status == 1);
  CHECK(contains(r.output,
                 "apply_gradient of 'wrong.double' disagrees with finite differences for input 'src'"));
}

TEST_CASE("gradcheck refuses unknown terms, parameters and bad shapes on the command line") {
  Result r = run("gradcheck reg.l3");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "unknown term 'reg.l3' (did you mean 'reg.l1' or 'reg.l2'?)"));
  r = run("gradcheck reg.kl_sparsity --param rho=2");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "--param rho=2: 'rho' must be a number in"));
  r = run("gradcheck reg.l2 --shape 4xx");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "--shape 4xx: expected sizes such as 16x32"));
  r = run("gradcheck reg.l2 --shape 4 --shape 4");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "2 --shape for 'reg.l2', which takes 1 input"));
  CHECK(contains(run("gradcheck --help").output, "exits 1 when one is above the tolerance, 1e-2"));
}

TEST_CASE("--step-concurrency takes a count of at least 1") {
  for (const char* bad : {"0", "-2", "two"}) {
    CAPTURE(bad);
    Result r = run(std::string("train graphs/mnist_ae32.graph --limit 600 --step-concurrency ") + bad);
    CHECK(r.status == 2);
    CHECK(contains(r.output, "step-concurrency"));
  }
}

TEST_CASE("train --step-concurrency 2 writes the bytes of a one-step-at-a-time run") {
  std::string bytes[2];
  for (int n : {1, 2}) {
    const std::string out = hg::test::tool_scratch("concurrency" + std::to_string(n) + ".safetensors");
    Result r =
        run("train graphs/gallery/vae.graph --set epochs=1 --limit 600 --threads 1 --step-concurrency " +
            std::to_string(n) + " --out " + out + " --metrics " + out + ".jsonl");
    REQUIRE(r.status == 0);
    bytes[n - 1] = hg::test::read_file(out);
  }
  CHECK(!bytes[0].empty());
  CHECK(bytes[0] == bytes[1]);
}
