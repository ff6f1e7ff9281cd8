// Data bindings with the new sources and steps: what they lower to, how --set changes a step, and the
// file:line:col errors for misused data options.
#include <doctest/doctest.h>

#include "frontend/parser.h"
#include "ir/builtin_plugins.h"
#include "ir/lower.h"
#include "ir/lower_util.h"

using namespace hg;

namespace {

const char* const kModel = "input x : [4] <- image\ncode = dense(x, 3) |> sigmoid\nloss = reg.l1(code)\n";

// The lowered graph, or every error message (all lines) when lowering fails.
std::string lower_errors(const std::string& text, Graph* out = nullptr) {
  DiagnosticSink sink;
  const ast::Program program = parse_graph("t.graph", text, sink);
  std::string messages;
  for (const Diagnostic& d : sink.diagnostics()) messages += d.str();
  if (!messages.empty()) return messages;
  try {
    Graph g = lower(program, text, builtin_ops(), test::builtin_terms());
    if (out) *out = g;
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("data: npy and csv sources, nested and piped steps in the order written") {
  Graph g;
  REQUIRE(lower_errors(
              std::string(
                  "data train = standardize(subset(split(csv(\"t.csv.gz\", label=\"kind\", "
                  "columns=[\"a\", \"b\", \"c\", \"d\"]), valid=0.25, seed=4, stratify=1), "
                  "n=100, balanced=1, seed=9, classes=[3, 1], relabel=1))\n"
                  "data test = npy(\"x.npy\", labels=\"y.npy\", scale=1/255) |> split(part=\"valid\")\n") +
                  kModel,
              &g) == "");
  const DataBinding& train = *g.binding("train");
  CHECK(train.format == "csv");
  CHECK(train.label_column == "kind");
  CHECK(train.columns == std::vector<std::string>{"a", "b", "c", "d"});
  REQUIRE(train.steps.size() == 3);
  CHECK(train.steps[0].kind == DataStep::Kind::Split);
  CHECK(train.steps[0].valid == 0.25);
  CHECK(train.steps[0].stratify);
  CHECK_FALSE(train.steps[0].valid_part);
  CHECK(train.steps[1].kind == DataStep::Kind::Subset);
  CHECK(train.steps[1].classes == std::vector<int32_t>{3, 1});
  CHECK(train.steps[2].kind == DataStep::Kind::Standardize);
  CHECK(train.describe() ==
        "csv(\"t.csv.gz\", label=\"kind\", columns=[\"a\", \"b\", \"c\", \"d\"], skip=0, count=0) |> "
        "split(valid=0.25, seed=4, stratify=1, part=\"train\") |> subset(n=100, balanced=1, seed=9, "
        "classes=[3, 1], relabel=1) |> standardize()");
  const DataBinding& test = *g.binding("test");
  CHECK(test.format == "npy");
  CHECK(test.steps.at(0).valid_part);
  apply_setting(g, "data.train.subset.n=500");
  apply_setting(g, "data.train.split.seed=2");
  apply_setting(g, "data.train.split.valid=0.5");
  CHECK(g.binding("train")->steps[1].n == 500);
  CHECK(g.binding("train")->steps[0].seed == 2);
  CHECK(g.binding("train")->steps[0].valid == 0.5);
  CHECK_THROWS_WITH(apply_setting(g, "data.test.subset.n=5"),
                    "--set data.test.subset.n=5: error: data 'test' has no subset(...) step: npy(\"x.npy\", "
                    "labels=\"y.npy\", scale=0.003921568627, skip=0, count=0) |> split(valid=0.1, seed=1, "
                    "stratify=0, part=\"valid\")");
  CHECK_THROWS_WITH(
      apply_setting(g, "data.train.split.valid=1.5"),
      "--set data.train.split.valid=1.5: error: split.valid is a fraction in (0, 1), found '1.5'");
}

TEST_CASE("data errors: misused steps and options are reported at their argument") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"data train = split(csv(\"t.csv\"), valid=1.5)",
       "t.graph:1:40: error: 'valid' of split is a fraction in (0, 1), found 1.5"},
      {"data train = split(valid=0.1)",
       "t.graph:1:14: error: split needs the data it works on first: split(csv(\"table.csv\"), ...)"},
      {"data train = subset(npy(\"x.npy\"), classes=5)",
       "t.graph:1:43: error: 'classes' of subset is a list of class indices, like [5, 6, 7], found '5'"},
      {"data train = subset(npy(\"x.npy\"), classes=[1, 1])", "t.graph:1:47: error: class 1 is listed twice"},
      {"data train = split(npy(\"x.npy\"), part=\"test\")",
       "t.graph:1:39: error: 'part' of split is \"train\" or \"valid\", found '\"test\"'"},
      {"data train = csv(\"t.csv\", label=kind)",
       "t.graph:1:33: error: label is a column name in double quotes, found 'kind'"},
      {"data train = split(standardize(npy(\"x.npy\")))",
       "t.graph:1:14: error: split must come before (inside) standardize/minmax, which is the last step"},
      {"data train = npy(\"x.npy\", label=\"y\")",
       "t.graph:1:27: error: unknown parameter 'label' of 'npy' (did you mean 'labels'?)"},
  };
  for (const auto& [line, message] : cases) {
    CAPTURE(line);
    CHECK(lower_errors(line + "\n" + kModel) == message);
  }
}
