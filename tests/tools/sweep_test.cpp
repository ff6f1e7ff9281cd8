// Pipelines with parameters, sweeps and a summary, end to end on small slices: `--param` substitutes into
// settings and output paths, `--sweep` runs the grid and reuses every stage whose inputs did not change
// (the pretraining shared by two label counts runs once per seed), stamps record wall time, and the summary
// stage's table agrees with the evaluations it was built from.
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "checkpoint_compare.h"
#include "runtime/checkpoint.h"

#include "sweep_fixture.h"
#include "tool_runner.h"

using namespace hg::test;
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("--param fills the stages' settings and paths, and a changed parameter reruns only its users") {
  const std::string dir = sweep_pipeline("run_param");
  ToolResult r = run_tool("run " + dir + "/x.pipeline --threads 2");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(fs::exists(dir + "/out/s1/dae.safetensors"));
  CHECK(fs::exists(dir + "/out/s1/l50/pre.safetensors"));
  CHECK(fs::exists(dir + "/out/s1/l50/pre.safetensors.last"));
  const nlohmann::json stamp = read_json(dir + "/out/s1/dae.safetensors.stamp");
  CHECK(stamp.at("seconds").get<double>() > 0);
  CHECK(contains(stamp.at("stage_text").get<std::string>(), "seed = 1"));
  const nlohmann::json eval = read_json(dir + "/out/s1/l50/pretrained.eval.json");
  CHECK(eval.at("params") == nlohmann::json{{"labels", "50"}, {"seed", "1"}});
  CHECK(eval.at("figures").contains("selected_epoch"));
  CHECK(eval.at("figures").contains("valid_accuracy"));
  CHECK(eval.at("figures").at("train_seconds").get<double>() > 0);

  r = run_tool("run " + dir + "/x.pipeline --threads 2 --param labels=100");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output, "[stage dae] up to date"));  // dae does not use labels
  CHECK(contains(r.output, "[stage pre] train "));
  CHECK(fs::exists(dir + "/out/s1/l100/pre.safetensors"));
  CHECK(fs::exists(dir + "/out/s1/l50/pre.safetensors"));  // the other configuration's results stay

  r = run_tool("run " + dir + "/x.pipeline --threads 2 --param sed=2");
  CHECK(r.status == 1);
  CHECK(
      contains(r.output, "--param sed=2: error: the pipeline has no parameter 'sed' (did you mean 'seed'?)"));
}

TEST_CASE("--sweep runs the grid, reuses shared stages, and the summary agrees with the evaluations") {
  const std::string dir = sweep_pipeline("run_sweep");
  const std::string command = "run " + dir + "/x.pipeline --threads 2 --sweep seed=1,2 --sweep labels=50,100";
  ToolResult r = run_tool(command);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output, "== seed=1 labels=50 (1 of 4)"));
  CHECK(contains(r.output, "== seed=2 labels=100 (4 of 4)"));
  CHECK(count(r.output, "[stage dae] train ") == 2);  // once per seed, not once per label count
  CHECK(count(r.output, "[stage dae] up to date") == 2);
  CHECK(count(r.output, "[stage pre] train ") == 4);
  CHECK(contains(r.output, "[stage table] summary of 8 evaluations"));

  // The table: one row per arm and label count over both seeds, and the paired gain.
  const nlohmann::json table = read_json(dir + "/out/summary.json");
  CHECK(fs::exists(dir + "/out/summary.md"));
  CHECK(fs::exists(dir + "/out/summary.csv"));
  REQUIRE(table.at("rows").size() == 6);
  for (const nlohmann::json& row : table.at("rows")) {
    CHECK(row.at("seeds") == nlohmann::json{"1", "2"});
    const std::string labels = row.at("config").at("labels").get<std::string>();
    const std::string arm = row.at("arm").get<std::string>();
    auto accuracy = [&](const std::string& eval, const std::string& seed) {
      return read_json(dir + "/out/s" + seed + "/l" + labels + "/" + eval + ".eval.json")
          .at("figures")
          .at("test_accuracy")
          .get<double>();
    };
    std::vector<double> values;
    for (const char* seed : {"1", "2"})
      values.push_back(arm == "pretrained - scratch"
                           ? accuracy("pretrained", seed) - accuracy("scratch", seed)
                           : accuracy(arm, seed));
    const nlohmann::json& figure = row.at("figures").at("test_accuracy");
    CHECK(figure.at("mean").get<double>() == doctest::Approx((values[0] + values[1]) / 2));
    CHECK(figure.at("std").get<double>() ==
          doctest::Approx(std::fabs(values[0] - values[1]) / std::sqrt(2.0)));
    CHECK(row.at("figures").contains("selected_epoch"));
  }

  r = run_tool(command);  // everything is up to date; the summary is rebuilt from the same evaluations
  REQUIRE(r.status == 0);
  CHECK(count(r.output, "] up to date: ") == 20);
  CHECK(contains(r.output, "0 stages ran, 20 up to date"));

  r = run_tool("summary " + dir + "/out --pair pretrained-scratch --out " + dir + "/again");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(read_file(dir + "/again.json") == read_file(dir + "/out/summary.json"));
}

TEST_CASE("run --jobs 2 runs independent stages at once and writes the bytes of --jobs 1") {
  // --jobs 2 --threads 2 gives each stage one thread: the same as a --jobs 1 --threads 1 run.
  const std::string one = sweep_pipeline("run_jobs1"), two = sweep_pipeline("run_jobs2");
  const ToolResult a = run_tool("run " + one + "/x.pipeline --threads 1 --jobs 1 --sweep seed=1,2");
  REQUIRE_MESSAGE(a.status == 0, a.output);
  const ToolResult b = run_tool("run " + two + "/x.pipeline --threads 2 --jobs 2 --sweep seed=1,2");
  REQUIRE_MESSAGE(b.status == 0, b.output);
  CHECK(contains(b.output, "[stage pre] finished; its output:"));
  CHECK(contains(b.output, "10 stages ran, 0 up to date"));
  size_t compared = 0;
  for (const auto& entry : fs::recursive_directory_iterator(one + "/out")) {
    const std::string name = entry.path().filename().string();
    if (name.find(".safetensors") == std::string::npos || name.find(".stamp") != std::string::npos) continue;
    const std::string relative = fs::relative(entry.path(), one).string();
    CAPTURE(relative);
    check_same_checkpoint(entry.path().string(), two + "/" + relative, {"graph_file"});  // another folder
    ++compared;
  }
  CHECK(compared == 10);  // per seed: dae, and pre and base with their .last
  for (const char* eval : {"/out/s1/l50/pretrained.eval.json", "/out/s2/l50/scratch.eval.json"}) {
    const nlohmann::json x = read_json(one + eval), y = read_json(two + eval);
    CHECK(x.at("figures").at("test_accuracy") == y.at("figures").at("test_accuracy"));
    CHECK(x.at("figures").at("selected_epoch") == y.at("figures").at("selected_epoch"));
  }
  CHECK(read_file(one + "/out/summary.csv") != "");
}

TEST_CASE("a stage inits from a checkpoint file, and reruns when that file changes") {
  const std::string dir = sweep_pipeline("run_file_init");
  REQUIRE(run_tool("run " + dir + "/x.pipeline --threads 2 --sweep seed=1,2").status == 0);
  std::ofstream(dir + "/y.pipeline") << "stage clf = train \"clf.graph\" init \"out/s1/dae.safetensors\" { "
                                        "\"enc.*\" } -> \"out/file/clf.safetensors\"\n";
  ToolResult r = run_tool("run " + dir + "/y.pipeline --threads 2");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output,
                 "[stage clf] train " + dir + "/clf.graph init " + dir + "/out/s1/dae.safetensors -> "));
  CHECK(contains(r.output, "initialized from " + dir + "/out/s1/dae.safetensors:"));
  CHECK(contains(r.output, "  loaded    enc.weights -> enc.weights [32, 784]"));
  r = run_tool("run " + dir + "/y.pipeline --threads 2");
  CHECK(contains(r.output, "[stage clf] up to date"));
  fs::copy_file(dir + "/out/s2/dae.safetensors", dir + "/out/s1/dae.safetensors",
                fs::copy_options::overwrite_existing);
  r = run_tool("run " + dir + "/y.pipeline --threads 2");
  REQUIRE(r.status == 0);
  CHECK(contains(r.output, "('file " + dir + "/out/s1/dae.safetensors' changed)"));
}

TEST_CASE(
    "under --jobs a failed stage stops the run, independent stages finish, dependent ones never start") {
  const std::string dir = sweep_pipeline("run_jobs_fail");
  std::ofstream(dir + "/bad.graph")
      << "input x : [784] <- image\nr = dense(x, 784) |> sigmod\nloss = loss.bce(r, x)\n";
  std::ofstream(dir + "/z.pipeline") << "stage good = train \"dae.graph\" -> \"out/good.safetensors\"\n"
                                        "stage bad = train \"bad.graph\" -> \"out/bad.safetensors\"\n"
                                        "stage after = eval bad\n";
  const ToolResult r = run_tool("run " + dir + "/z.pipeline --threads 2 --jobs 2");
  CHECK(r.status == 1);
  CHECK(contains(r.output, dir + "/bad.graph:2:"));
  CHECK(contains(r.output, "[stage good] finished; its output:"));
  CHECK(contains(r.output, "[stage bad] finished; its output:"));
  CHECK_FALSE(contains(r.output, "[stage after] finished"));
  CHECK(contains(r.output, "hourglass run: a stage failed, so 'after' did not start"));
  CHECK(fs::exists(dir + "/out/good.safetensors.stamp"));
  CHECK_FALSE(read_json(dir + "/out/bad.safetensors.stamp").at("complete").get<bool>());  // started, not done
}
