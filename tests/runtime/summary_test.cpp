// The sweep summary's numbers against a case worked out by hand: means, sample standard deviations (n - 1),
// grouping by configuration without the seed, and paired differences that match seeds and leave out a seed
// one arm lacks.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "runtime/summary.h"

using namespace hg;

namespace {

EvalRecord record(const std::string& stage, const std::string& labels, const std::string& seed,
                  double accuracy, double epoch) {
  return {
      stage, {{"labels", labels}, {"seed", seed}}, {{"test_accuracy", accuracy}, {"selected_epoch", epoch}}};
}

const SummaryRow& row(const Summary& s, const std::string& arm, const std::string& labels) {
  for (const SummaryRow& r : s.rows)
    if (r.arm == arm && r.config.at("labels") == labels) return r;
  FAIL("no row " << arm << " labels=" << labels);
  throw;
}

}  // namespace

TEST_CASE("spread is the mean and the sample standard deviation") {
  const Spread s = spread({0.90, 0.92, 0.97});
  CHECK(s.n == 3);
  CHECK(s.mean == doctest::Approx(0.93));
  CHECK(s.std == doctest::Approx(0.036055513));  // sqrt((0.03^2 + 0.01^2 + 0.04^2) / 2)
  CHECK(spread({5}).std == 0);
  CHECK(spread({}).n == 0);
}

TEST_CASE("a summary has one row per arm and configuration, and paired differences at the same seed") {
  const std::vector<EvalRecord> records = {
      record("pretrained", "100", "1", 0.90, 10), record("pretrained", "100", "2", 0.92, 12),
      record("pretrained", "100", "3", 0.97, 14), record("scratch", "100", "1", 0.85, 20),
      record("scratch", "100", "2", 0.90, 20),    record("scratch", "100", "3", 0.92, 20),
      record("scratch", "100", "4", 0.80, 20),    record("pretrained", "1000", "1", 0.98, 7)};
  const Summary s = summarize(records, {{"pretrained", "scratch"}});
  CHECK(s.figures == std::vector<std::string>{"selected_epoch", "test_accuracy"});
  REQUIRE(s.rows.size() == 4);  // pretrained x 2 configurations, scratch x 1, one paired row
  CHECK(s.rows[0].arm == "pretrained");
  CHECK(s.rows.back().arm == "pretrained - scratch");

  const SummaryRow& pre = row(s, "pretrained", "100");
  CHECK(pre.config.count("seed") == 0);
  CHECK(pre.seeds == std::vector<std::string>{"1", "2", "3"});
  CHECK(pre.figures.at("test_accuracy").mean == doctest::Approx(0.93));
  CHECK(pre.figures.at("test_accuracy").std == doctest::Approx(0.036055513));
  CHECK(pre.figures.at("selected_epoch").mean == doctest::Approx(12));
  CHECK(pre.figures.at("selected_epoch").std == doctest::Approx(2));

  const SummaryRow& scratch = row(s, "scratch", "100");
  CHECK(scratch.figures.at("test_accuracy").n == 4);
  CHECK(scratch.figures.at("test_accuracy").mean == doctest::Approx(0.8675));
  CHECK(scratch.figures.at("test_accuracy").std == doctest::Approx(0.0537742));  // sqrt(0.008675 / 3)

  // Seed 4 has no pretrained run and 1000 labels no scratch run: neither enters a difference.
  const SummaryRow& gain = row(s, "pretrained - scratch", "100");
  CHECK(gain.seeds == std::vector<std::string>{"1", "2", "3"});
  CHECK(gain.figures.at("test_accuracy").mean == doctest::Approx(0.04));        // 0.05, 0.02, 0.05
  CHECK(gain.figures.at("test_accuracy").std == doctest::Approx(0.017320508));  // sqrt(0.0006 / 2)
  CHECK(gain.figures.at("selected_epoch").mean == doctest::Approx(-8));

  const SummaryRow& single = row(s, "pretrained", "1000");
  CHECK(single.figures.at("test_accuracy").n == 1);
  CHECK(single.figures.at("test_accuracy").std == 0);
}

TEST_CASE("the summary's markdown, CSV and JSON carry the same numbers") {
  const Summary s = summarize({record("a", "100", "1", 0.5, 1), record("a", "100", "2", 0.7, 3),
                               record("b", "100", "1", 0.4, 2), record("b", "100", "2", 0.4, 2)},
                              {{"a", "b"}});
  const std::string md = summary_markdown(s);
  CHECK(md.find("| arm | configuration | seeds | selected_epoch | test_accuracy |") != std::string::npos);
  CHECK(md.find("| a | labels=100 | 2 | 2 ± 1.4 | 60.00% ± 14.14 |") != std::string::npos);
  CHECK(md.find("| a - b | labels=100 | 2 | 0 ± 1.4 | 20.00% ± 14.14 |") != std::string::npos);
  const std::string csv = summary_csv(s);
  CHECK(csv.find("arm,configuration,seeds,selected_epoch_mean,selected_epoch_std,selected_epoch_n,"
                 "test_accuracy_mean,test_accuracy_std,test_accuracy_n\n") == 0);
  CHECK(csv.find("\na,labels=100,2,2,1.41421,2,0.6,0.141421,2\n") != std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(summary_json(s));
  CHECK(j.at("rows").size() == 3);
  CHECK(j.at("rows")[2].at("arm") == "a - b");
  CHECK(j.at("rows")[2].at("figures").at("test_accuracy").at("mean").get<double>() == doctest::Approx(0.2));
  CHECK(j.at("rows")[2].at("seeds") == nlohmann::json{"1", "2"});
}
