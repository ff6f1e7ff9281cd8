// def templates expand in place and name their parameters after the calling statement; freeze and lr_mult
// reach exactly the parameters their globs match; include splices another file's statements.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "frontend/parser.h"
#include "ir/builtin_plugins.h"
#include "ir/lower.h"

using namespace hg;

namespace {
Graph lower_text(const std::string& text) {
  DiagnosticSink sink;
  ast::Program program = parse_graph("t.graph", text, sink);
  sink.throw_if_errors();
  return lower(program, text, builtin_ops(), test::builtin_terms());
}

const Node& parameter(const Graph& g, const std::string& name) {
  const NodeId id = g.find(name);
  REQUIRE_MESSAGE(id != kNoNode, "no parameter " << name);
  return g.node(id);
}
}  // namespace

TEST_CASE("a template stacks layers whose parameters take the calling statement's name") {
  const Graph g = lower_text(
      "input x : [784] <- image\n"
      "def layer(src, units) = dense(src, units) |> sigmoid\n"
      "h1 = layer(x, 500)\nh2 = layer(h1, 200)\nh3 = layer(src=h2, units=100)\n"
      "r = dense(h3, 784) |> sigmoid\nloss = loss.bce(r, x)\n");
  CHECK(parameter(g, "h1.weights").dims == std::vector<int64_t>{500, 784});
  CHECK(parameter(g, "h2.weights").dims == std::vector<int64_t>{200, 500});
  CHECK(parameter(g, "h3.weights").dims == std::vector<int64_t>{100, 200});
  CHECK(g.node(g.find("h3")).op->name() == std::string("sigmoid"));
  CHECK(g.parameters.size() == 8);
}

TEST_CASE("templates may call templates and take corruption terms") {
  const Graph g = lower_text(
      "input x : [16] <- image\n"
      "def layer(src, units) = dense(src, units) |> sigmoid\n"
      "def noisy_layer(src, units, rate) = layer(corrupt.masking(src, rate=rate), units)\n"
      "h = noisy_layer(x, 8, 0.25)\nr = dense(h, 16) |> sigmoid\nloss = loss.bce(r, x)\n");
  CHECK(parameter(g, "h.weights").dims == std::vector<int64_t>{8, 16});
  bool has_masking = false;
  for (const Node& n : g.nodes)
    if (n.is(OpRole::Corrupt))
      has_masking = n.attributes_as<TermAttributes>().parameters == std::vector<double>{0.25};
  CHECK(has_masking);
}

TEST_CASE("freeze and lr_mult apply to the parameters their globs match") {
  const Graph g = lower_text(
      "input x : [8] <- image\nenc1 = dense(x, 6) |> sigmoid\nenc2 = dense(enc1, 4) |> sigmoid\n"
      "r = dense(enc2, 8) |> sigmoid\nloss = loss.bce(r, x)\n"
      "freeze \"enc1.*\"\nlr_mult \"r.weights\" = 0.1\nlr_mult \"enc2.b*\" = 0\n");
  CHECK_FALSE(parameter(g, "enc1.weights").attributes_as<ParameterAttributes>().trainable);
  CHECK_FALSE(parameter(g, "enc1.bias").attributes_as<ParameterAttributes>().trainable);
  CHECK(parameter(g, "enc2.weights").attributes_as<ParameterAttributes>().trainable);
  CHECK_FALSE(
      parameter(g, "enc2.bias").attributes_as<ParameterAttributes>().trainable);  // a multiplier of 0 freezes
  CHECK(parameter(g, "r.weights").attributes_as<ParameterAttributes>().lr_mult == doctest::Approx(0.1));
  CHECK(parameter(g, "r.bias").attributes_as<ParameterAttributes>().lr_mult == 1);
}

TEST_CASE("include splices the included file's statements, relative to the including file") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(HG_BINARY_DIR) / "test-include" / "sub";
  fs::create_directories(dir);
  std::ofstream(dir / "layers.graph") << "def layer(src, units) = dense(src, units) |> tanh\n";
  std::ofstream(dir.parent_path() / "main.graph")
      << "include \"sub/layers.graph\"\ninput x : [8] <- image\nh = layer(x, 3)\nr = dense(h, 8) |> sigmoid\n"
         "loss = loss.bce(r, x)\n";
  const Graph g =
      load_graph((dir.parent_path() / "main.graph").string(), builtin_ops(), test::builtin_terms());
  CHECK(parameter(g, "h.weights").dims == std::vector<int64_t>{3, 8});
  // The hash covers the included file too, so editing it changes what a checkpoint records.
  std::ofstream(dir / "layers.graph") << "def layer(src, units) = dense(src, units) |> relu\n";
  const Graph changed =
      load_graph((dir.parent_path() / "main.graph").string(), builtin_ops(), test::builtin_terms());
  CHECK(changed.source_hash != g.source_hash);
}
