// Model selection inside a run: every held-out set is scored and logged under its own name; `select` keeps
// the best epoch in OUT and the last in OUT.last, `patience` stops the run, the winner is reported, and a run
// resumed from OUT.last matches one that never stopped. The metrics log stays valid JSON for a diverged run
// and gives two uses of one term two keys.
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "checkpoint_compare.h"
#include "runtime/checkpoint.h"
#include "tool_runner.h"

using namespace hg::test;
namespace fs = std::filesystem;

namespace {

const std::string kFlags = " --threads 2";

// 100 labelled training images, 500 validation images from the far end of the training file (disjoint from
// the first 100), 500 test images: a classifier overfits within a few dozen epochs, so valid loss turns.
std::string selecting_graph(const std::string& name, const std::string& train_extra) {
  const std::string path = tool_scratch(name + ".graph");
  std::ofstream(path)
      << "data train = idx(\"mnist/train-images-idx3-ubyte\", labels=\"mnist/train-labels-idx1-ubyte\", "
         "scale=1/255, count=100)\n"
         "data valid = idx(\"mnist/train-images-idx3-ubyte\", labels=\"mnist/train-labels-idx1-ubyte\", "
         "scale=1/255, skip=59500, count=500)\n"
         "data test  = idx(\"mnist/t10k-images-idx3-ubyte\", labels=\"mnist/t10k-labels-idx1-ubyte\", "
         "scale=1/255, count=500)\n"
         "input x : [784] <- image\ninput y : [10] <- label\n"
         "fc1 = dense(x, 64) |> relu\nlogits = dense(fc1, 10)\n"
         "loss = loss.softmax_ce(logits, y)\n"
         "train { optimizer = adam(lr=0.01) batch = 50 epochs = 40 seed = 3 "
      << train_extra << " }\n";
  return path;
}

std::vector<nlohmann::json> log_lines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

}  // namespace

TEST_CASE("train scores every held-out set, keeps the best epoch on valid and stops after its patience") {
  const std::string graph = selecting_graph("select", "select = best(valid, loss) patience = 4");
  const std::string out = tool_scratch("select.safetensors"), log = tool_scratch("select.jsonl");
  fs::remove(out);
  const ToolResult r = run_tool("train " + graph + kFlags + " --out " + out + " --metrics " + log);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output, "| valid loss "));
  CHECK(contains(r.output, "| test loss "));
  const std::vector<nlohmann::json> lines = log_lines(log);
  REQUIRE(lines.size() >= 5);
  // The best epoch is the one with the lowest valid loss; the log marks it and nothing later beats it.
  int64_t best = 0;
  double lowest = 1e300;
  for (const nlohmann::json& j : lines) {
    REQUIRE(j.contains("valid_loss"));
    REQUIRE(j.contains("test_accuracy"));
    REQUIRE(j.contains("valid_accuracy"));
    if (j.at("valid_loss").get<double>() < lowest) {
      lowest = j.at("valid_loss").get<double>();
      best = j.at("epoch").get<int64_t>();
      CHECK(j.at("best").get<bool>());
    } else {
      CHECK_FALSE(j.at("best").get<bool>());
    }
  }
  const int64_t last = lines.back().at("epoch").get<int64_t>();
  REQUIRE_MESSAGE(last < 40, "valid loss never stopped improving: the test needs a graph that overfits");
  CHECK(last - best == 4);  // patience: four epochs without a better valid loss
  CHECK(contains(r.output, "selected epoch " + std::to_string(best) + " of " + std::to_string(last) +
                               " by best(valid, loss), stopped early: no improvement in 4 epochs"));
  CHECK(contains(r.output, "wrote " + out + " (best), " + out + ".last (last)"));
  // OUT holds the best epoch's weights, OUT.last the last epoch's.
  CHECK(hg::CheckpointFile(out).metadata("epoch") == std::to_string(best));
  CHECK(hg::CheckpointFile(out + ".last").metadata("epoch") == std::to_string(last));
  // Evaluated again, OUT scores exactly the test loss the log recorded at the best epoch.
  const ToolResult e = run_tool("eval " + graph + " --ckpt " + out + kFlags);
  REQUIRE(e.status == 0);
  char expected[64];
  std::snprintf(expected, sizeof expected, "loss %.5f",
                lines[size_t(best - 1)].at("test_loss").get<double>());
  CHECK_MESSAGE(contains(e.output, expected), e.output);
  // The report names the winner's valid and test figures.
  std::snprintf(expected, sizeof expected, "  valid  loss %.5f", lowest);
  CHECK(contains(r.output, expected));
  CHECK(contains(r.output, "\n  test  loss "));
}

TEST_CASE("a selecting run resumed from OUT.last keeps its best-so-far and patience, bit for bit") {
  const std::string graph = selecting_graph("select_resume", "select = best(valid, accuracy) patience = 3");
  const std::string straight = tool_scratch("select_straight.safetensors"),
                    resumed = tool_scratch("select_resumed.safetensors");
  for (const std::string& f : {straight, resumed, straight + ".last", resumed + ".last"}) fs::remove(f);
  const ToolResult a =
      run_tool("train " + graph + kFlags + " --out " + straight + " --metrics " + tool_scratch("ss.jsonl"));
  REQUIRE_MESSAGE(a.status == 0, a.output);
  const std::vector<nlohmann::json> lines = log_lines(tool_scratch("ss.jsonl"));
  const int64_t last = lines.back().at("epoch").get<int64_t>();
  REQUIRE(last >= 4);
  // Interrupted two epochs before its end: after the best epoch, so that the patience count is under way.
  const std::string cut = std::to_string(last - 2);
  REQUIRE(run_tool("train " + graph + kFlags + " --set epochs=" + cut + " --out " + resumed + " --metrics " +
                   tool_scratch("sr.jsonl"))
              .status == 0);
  const ToolResult b = run_tool("train " + graph + kFlags + " --resume " + resumed + ".last --out " +
                                resumed + " --metrics " + tool_scratch("sr.jsonl"));
  REQUIRE_MESSAGE(b.status == 0, b.output);
  CHECK(contains(b.output, "resuming " + resumed + ".last after epoch " + cut));
  // OUT.last was written after the resume: the same bytes. OUT may come from before the interruption, when
  // the run was told --set epochs=<cut>: the same weights, optimizer state and selection, that target aside.
  CHECK(read_file(straight + ".last") == read_file(resumed + ".last"));
  check_same_checkpoint(straight, resumed, {"epochs"});
  const std::vector<nlohmann::json> again = log_lines(tool_scratch("sr.jsonl"));
  REQUIRE(again.size() == lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    CHECK(again[i].at("valid_accuracy") == lines[i].at("valid_accuracy"));
    CHECK(again[i].at("best") == lines[i].at("best"));
  }
  // Resumed after the stop, it trains nothing more.
  const ToolResult c = run_tool("train " + graph + kFlags + " --resume " + straight + ".last --out " +
                                straight + " --metrics " + tool_scratch("ss.jsonl"));
  REQUIRE(c.status == 0);
  if (a.output.find("stopped early") != std::string::npos) CHECK_FALSE(contains(c.output, "\nepoch "));
}

TEST_CASE("the metrics log stays valid JSON for a diverged run and keeps two uses of one term apart") {
  const std::string graph = tool_scratch("two_l2.graph");
  std::ofstream(graph)
      << "include \"" HG_SOURCE_DIR
         "/graphs/common/mnist.graph\"\n"
         "input x : [784] <- image\n"
         "code = dense(x, 16) |> relu\nrecon = dense(code, 784) |> sigmoid\n"
         "loss = loss.bce(recon, x) + 0.001 * reg.l2(code.weights) + 0.5 * reg.l2(recon.weights)\n"
         "train { optimizer = sgd(lr=1e30) batch = 50 epochs = 2 seed = 1 }\n";
  const std::string log = tool_scratch("two_l2.jsonl");
  const ToolResult r = run_tool("train " + graph + " --limit 200" + kFlags + " --out " +
                                tool_scratch("two_l2.safetensors") + " --metrics " + log);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  const std::vector<nlohmann::json> lines = log_lines(log);  // parse() throws on a bare nan
  REQUIRE(lines.size() == 2);
  const nlohmann::json& terms = lines[1].at("train_terms");
  CHECK(terms.size() == 3);
  CHECK(terms.contains("loss.bce"));
  CHECK(terms.contains("reg.l2#1"));
  CHECK(terms.contains("reg.l2#2"));
  CHECK(lines[1].at("test_terms").contains("reg.l2#2"));
  CHECK(lines[1].at("train_loss").is_null());  // lr 1e30 diverges: NaN is written as null
  // Printed terms are unweighted and say their weight.
  CHECK(contains(r.output, " + 0.001 x reg.l2#1 "));
  CHECK(contains(r.output, " + 0.5 x reg.l2#2 "));
}
