// `hourglass report` and the curve chart `train` draws: the page's structure for a run and for a pipeline's
// output (curves as SVG, the figures of the metrics log, pictures as data URIs, settings, terms, the graph's
// text, nothing fetched from elsewhere), --png, the errors, and, where chromium is installed, the page
// rendered headless.
#include <nlohmann/json.hpp>
#include <regex>

#include "sweep_fixture.h"
#include "test_skip.h"
#include "tool_runner.h"

using namespace hg::test;
namespace fs = std::filesystem;

namespace {

bool is_png(const std::string& path) {
  return read_file(path).compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

// A short mnist_ae32 run into DIR: its checkpoint, metrics log and curve chart.
std::string trained_run(const std::string& name) {
  const std::string dir = tool_scratch(name);
  fs::remove_all(dir);
  const ToolResult r =
      run_tool("train graphs/mnist_ae32.graph --set epochs=3 --limit 500 --threads 2 --out " + dir +
               "/ae.safetensors --metrics " + dir + "/ae.metrics.jsonl");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output, "wrote " + dir + "/ae.safetensors, " + dir + "/ae.metrics.jsonl and " + dir +
                               "/ae.curves.png"));
  return dir;
}

// The page links, loads and runs nothing from elsewhere.
void check_self_contained(const std::string& page) {
  CHECK(page.compare(0, 15, "<!DOCTYPE html>") == 0);
  CHECK(!contains(page, "<script"));
  CHECK(!contains(page, "href="));
  CHECK(!std::regex_search(page, std::regex("src=\"(?!data:image/png;base64,)")));
  CHECK(contains(page, "</html>\n"));
}

}  // namespace

TEST_CASE("train draws its loss curve next to the metrics log") {
  const std::string dir = trained_run("report_train");
  CHECK(is_png(dir + "/ae.curves.png"));
}

TEST_CASE("report: one page with a run's curves, figures, pictures, settings, terms and graph") {
  const std::string dir = trained_run("report_run");
  const ToolResult r = run_tool("report " + dir + "/ae.safetensors --threads 2");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output, "wrote " + dir + "/ae.report.html: 1 run"));
  const std::string page = read_file(dir + "/ae.report.html");
  check_self_contained(page);
  CHECK(count(page, "<svg") == 1);  // the loss; an autoencoder has no accuracy

  // The last epoch's figures, as the metrics log has them.
  std::ifstream log(dir + "/ae.metrics.jsonl");
  std::string line, last;
  while (std::getline(log, line)) last = line;
  const nlohmann::json epoch = nlohmann::json::parse(last);
  char expected[64];
  std::snprintf(expected, sizeof expected, "<td>last</td><td>3</td><td>%.5g</td><td>%.5g</td>",
                epoch.at("test_loss").get<double>(), epoch.at("train_loss").get<double>());
  CHECK(contains(page, expected));

  // Filters and reconstructions; an autoencoder without sample.normal has no samples, and says so.
  CHECK(count(page, "src=\"data:image/png;base64,") == 2);
  CHECK(contains(page, "filters: 32 filters of 'code.weights' as 28x28 tiles"));
  CHECK(contains(page, "recon: 10 test images, columns: input, 'recon'"));
  CHECK(contains(page, "samples: not drawn: the graph has no sample.normal code to draw from"));

  CHECK(contains(page, "<td>seed</td><td>1</td>"));
  CHECK(std::regex_search(page, std::regex("<td>loss.bce</td><td>[0-9.]+</td>")));  // the term, its version
  CHECK(contains(page, "input x : [784] &lt;- image"));  // the graph's text, escaped
  CHECK(contains(page, "3 epochs in "));
}

TEST_CASE("report --png writes the charts alone") {
  const std::string dir = trained_run("report_png");
  const ToolResult r = run_tool("report " + dir + "/ae.safetensors --png " + dir + "/charts");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output, "wrote " + dir + "/charts/ae.loss.png"));
  CHECK(is_png(dir + "/charts/ae.loss.png"));
  CHECK(!fs::exists(dir + "/ae.report.html"));
}

TEST_CASE("report of a pipeline's output: the summary table, stage times and every run") {
  const std::string dir = sweep_pipeline("report_pipeline");
  ToolResult r = run_tool("run " + dir + "/x.pipeline --threads 2 --sweep seed=1,2");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  r = run_tool("report " + dir + "/out --threads 2");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(r.output, "wrote " + dir + "/out/report.html: 6 runs"));  // dae, pre, base per seed
  const std::string page = read_file(dir + "/out/report.html");
  check_self_contained(page);
  CHECK(contains(page, "<h3>Summary</h3>"));
  // The arms over two seeds: mean ± std of each figure, as the summary stage computed them.
  const nlohmann::json summary = nlohmann::json::parse(read_file(dir + "/out/summary.json"));
  for (const auto& row : summary.at("rows")) {
    if (row.at("arm") != "pretrained") continue;
    const auto& accuracy = row.at("figures").at("test_accuracy");
    char expected[96];
    std::snprintf(expected, sizeof expected, "%.2f%% ± %.2f%%", 100 * accuracy.at("mean").get<double>(),
                  100 * accuracy.at("std").get<double>());
    CHECK(contains(page, expected));
  }
  CHECK(contains(page, "<h3>Stages</h3>"));
  CHECK(std::regex_search(
      page, std::regex("<td>s1/dae.safetensors</td><td>done</td><td>[0-9]+\\.[0-9]{2} s</td>")));
  CHECK(count(page, "<section>") == 7);
  CHECK(count(page, "<svg") == 6 + 4);  // a loss chart per run, and accuracy for the four classifiers
}

TEST_CASE("report's errors name the file") {
  const std::string dir = trained_run("report_errors");
  ToolResult r = run_tool("report " + dir + "/nothing.safetensors");
  CHECK(r.status == 1);
  CHECK(contains(r.output, dir + "/nothing.safetensors: error: no such checkpoint or folder"));
  r = run_tool("report " + dir + "/ae.metrics.jsonl");
  CHECK(r.status == 1);
  CHECK(contains(r.output, dir + "/ae.metrics.jsonl: error:"));

  // A damaged metrics log: the page says so at its line; --png, which has nothing else to draw, fails.
  std::ofstream(dir + "/ae.metrics.jsonl", std::ios::app) << "{\"epoch\": 4, \"train_loss\": \n";
  r = run_tool("report " + dir + "/ae.safetensors");
  REQUIRE_MESSAGE(r.status == 0, r.output);
  CHECK(contains(read_file(dir + "/ae.report.html"),
                 "No curves: " + dir + "/ae.metrics.jsonl:4:1: error: not a JSON line"));
  r = run_tool("report " + dir + "/ae.safetensors --png " + dir + "/charts");
  CHECK(r.status == 1);
  CHECK(contains(r.output, dir + "/ae.metrics.jsonl:4:1: error: not a JSON line"));
  r = run_tool("report " + dir + " --metrics x.jsonl");
  CHECK(r.status == 2);
}

TEST_CASE("report: chromium renders the page headless") {
  if (std::system("command -v chromium >/dev/null 2>&1") != 0)
    return skip_test("chromium is not installed (apt-get install chromium)");
  const std::string dir = trained_run("report_chromium");
  REQUIRE(run_tool("report " + dir + "/ae.safetensors --threads 2").status == 0);
  const std::string flags =
      "--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir=" + dir +
      "/chromium-profile ";
  const ToolResult dom = run_command("timeout 120 chromium " + flags + "--dump-dom file://" + dir +
                                     "/ae.report.html 2>/dev/null");
  REQUIRE_MESSAGE(dom.status == 0, dom.output);
  CHECK(count(dom.output, "<svg") == 1);
  CHECK(count(dom.output, "<img") == 2);
  const ToolResult shot =
      run_command("timeout 120 chromium " + flags + "--window-size=1100,3000 --screenshot=" + dir +
                  "/page.png file://" + dir + "/ae.report.html");
  REQUIRE_MESSAGE(shot.status == 0, shot.output);
  CHECK(is_png(dir + "/page.png"));
}
