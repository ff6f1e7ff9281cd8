// Lowering from text to IR: a shape table for the ops, parameter names and shapes (the checkpoint contract),
// tied weights, objective weights, definitions in any order, data and train settings, `--set` overrides,
// and the verifier. Error messages of whole files are covered by graphs/invalid/ (invalid_graphs_test.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "frontend/parser.h"
#include "ir/builtin_plugins.h"
#include "ir/lower.h"
#include "ir/lower_util.h"

using namespace hg;

namespace {

Graph lower_text(const std::string& text) {
  DiagnosticSink sink;
  const ast::Program program = parse_graph("t.graph", text, sink);
  for (const Diagnostic& d : sink.diagnostics()) FAIL_CHECK(d.str());
  REQUIRE_FALSE(sink.has_errors());
  try {
    return lower(program, text, builtin_ops(), test::builtin_terms());
  } catch (const Error& error) {
    FAIL(error.what());
  }
  return {};
}

const Node& node(const Graph& g, const std::string& name) {
  const NodeId id = g.find(name);
  REQUIRE_MESSAGE(id != kNoNode, "no node named '" << name << "'");
  return g.node(id);
}

std::map<std::string, std::vector<int64_t>> parameter_shapes(const Graph& g) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (NodeId p : g.parameters) {
    CHECK(g.node(p).is(OpRole::Parameter));
    CHECK_FALSE(g.node(p).batched);
    CHECK_MESSAGE(shapes.count(g.node(p).name) == 0, "two parameters named " << g.node(p).name);
    shapes[g.node(p).name] = g.node(p).dims;
  }
  return shapes;
}

std::vector<NodeId> ids(const Graph& g, const std::vector<std::string>& names) {
  std::vector<NodeId> out;
  for (const std::string& name : names) out.push_back(g.find(name));
  return out;
}

// The message of the hg::Error that `f` throws, all lines.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& error) {
    std::string text;
    for (const Diagnostic& d : error.diagnostics()) text += d.str();
    return text;
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("lower: shape table of the ops on one statement 'y = ...'") {
  using Shapes = std::map<std::string, std::vector<int64_t>>;
  struct Row {
    const char* expr;
    std::string op;  // of the node named y
    std::vector<int64_t> dims;
    Shapes parameters;
  };
  const Shapes dense_3 = {{"y.weights", {3, 6}}, {"y.bias", {3}}};
  const std::vector<Row> table = {
      {"dense(x, 3)", "dense", {3}, dense_3},
      {"dense(x, 3, bias=1)", "dense", {3}, dense_3},
      {"dense(x, 3, bias=0)", "dense", {3}, {{"y.weights", {3, 6}}}},
      {"dense(x, 2 * 4 - 1)", "dense", {7}, {{"y.weights", {7, 6}}, {"y.bias", {7}}}},
      {"dense(img, 4)", "dense", {4}, {{"y.weights", {4, 6}}, {"y.bias", {4}}}},
      {"dense(x, 3) |> sigmoid", "sigmoid", {3}, dense_3},
      {"relu(x)", "relu", {6}, {}},
      {"sigmoid(x)", "sigmoid", {6}, {}},
      {"tanh(x)", "tanh", {6}, {}},
      {"linear(x)", "linear", {6}, {}},
      {"softmax(x)", "softmax", {6}, {}},
      {"x |> tanh", "tanh", {6}, {}},
      {"relu(img)", "relu", {2, 3}, {}},
      {"x", "linear", {6}, {}},  // an alias is a linear activation named y
      {"corrupt.masking(x, rate=0.25)", "corrupt", {6}, {}},
  };
  for (const Row& row : table) {
    CAPTURE(row.expr);
    const Graph g =
        lower_text("input x : [6] <- image\ninput img : [2, 3] <- image\ny = " + std::string(row.expr) +
                   "\nloss = loss.mse(y, y)\n");
    const Node& y = node(g, "y");
    CHECK(y.op->name() == row.op);
    CHECK(y.dims == row.dims);
    CHECK(y.batched);
    CHECK(parameter_shapes(g) == row.parameters);
    CHECK_NOTHROW(verify(g));
  }
}

TEST_CASE("lower: dense wires src, weights and bias, with or without the bias") {
  const Graph g = lower_text(
      "input x : [5] <- image\ncode = dense(x, 3) |> relu\nloss = reg.l1(code)\n"
      "code2 = dense(x, 3, bias=0)\n");
  const Node& dense = node(g, "code.dense");
  CHECK(dense.op->describe(g, dense) == "dense(3)");
  CHECK(dense.inputs == ids(g, {"x", "code.weights", "code.bias"}));
  CHECK(node(g, "code").inputs == ids(g, {"code.dense"}));
  CHECK(node(g, "code2").inputs == ids(g, {"x", "code2.weights"}));
}

TEST_CASE("lower: a tied decoder reuses the encoder's weights transposed and owns only its bias") {
  const std::string encoder = "input x : [6] <- image\ncode = dense(x, 3) |> sigmoid\n";
  const Graph g =
      lower_text(encoder + "recon = dense(code, tied=code) |> sigmoid\nloss = loss.bce(recon, x)\n");
  CHECK(parameter_shapes(g) == std::map<std::string, std::vector<int64_t>>{
                                   {"code.weights", {3, 6}}, {"code.bias", {3}}, {"recon.bias", {6}}});
  CHECK(g.find("recon.weights") == kNoNode);
  const Node& decoder = node(g, "recon.dense");
  CHECK(decoder.op->describe(g, decoder) == "dense(6, tied)");
  CHECK(decoder.dims == std::vector<int64_t>{6});
  CHECK(decoder.inputs == ids(g, {"code", "code.weights", "recon.bias"}));

  SUBCASE("without bias it owns nothing") {
    const Graph h =
        lower_text(encoder + "recon = dense(code, tied=code, bias=0)\nloss = loss.bce(recon, x)\n");
    CHECK(parameter_shapes(h).count("recon.bias") == 0);
    CHECK(node(h, "recon").inputs == ids(h, {"code", "code.weights"}));
  }
  SUBCASE("units that agree with the tied weights may be written") {
    const Graph h = lower_text(encoder + "recon = dense(code, 6, tied=code)\nloss = loss.bce(recon, x)\n");
    CHECK(node(h, "recon").op->describe(h, node(h, "recon")) == "dense(6, tied)");
  }
}

TEST_CASE("lower: a whole classifier, node by node") {
  const std::string text =
      "data train = idx(\"train-images\", labels=\"train-labels\", scale=1/255)\n"
      "input x : [784] <- image\n"
      "input y : [10] <- label\n"
      "fc1    = dense(x, 32) |> relu\n"
      "logits = dense(fc1, 10)\n"
      "probs  = softmax(logits)\n"
      "loss   = loss.softmax_ce(logits, y)\n"
      "train { optimizer = sgd(lr=0.1, momentum=0.9)  batch = 128  epochs = 15  seed = 3 }\n";
  const Graph g = lower_text(text);
  struct Expected {
    const char* name;
    std::string op;
    std::vector<int64_t> dims;
    bool batched;
  };
  const std::vector<Expected> expected = {
      {"x", "input", {784}, true},
      {"y", "input", {10}, true},
      {"fc1.weights", "parameter", {32, 784}, false},
      {"fc1.bias", "parameter", {32}, false},
      {"fc1.dense", "dense", {32}, true},
      {"fc1", "relu", {32}, true},
      {"logits.weights", "parameter", {10, 32}, false},
      {"logits.bias", "parameter", {10}, false},
      {"logits", "dense", {10}, true},
      {"probs", "softmax", {10}, true},
      {"loss.softmax_ce", "term", {}, false},
      {"loss", "objective", {}, false},
  };
  REQUIRE(g.nodes.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(g.nodes[i].name == expected[i].name);
    CHECK(g.nodes[i].op->name() == expected[i].op);
    CHECK(g.nodes[i].dims == expected[i].dims);
    CHECK(g.nodes[i].batched == expected[i].batched);
  }
  CHECK(node(g, "x").attributes_as<InputAttributes>().source == "image");
  CHECK(node(g, "y").attributes_as<InputAttributes>().source == "label");
  CHECK(node(g, "probs").op->name() == std::string("softmax"));
  CHECK(node(g, "loss.softmax_ce").inputs == ids(g, {"logits", "y"}));
  CHECK(g.objective == g.find("loss"));
  CHECK(g.file == "t.graph");
  CHECK(g.source_hash == fnv1a_hex(text));
  CHECK_FALSE(g.has_backward());

  REQUIRE(g.data.size() == 1);
  CHECK(g.data[0].name == "train");
  CHECK(g.data[0].images == "train-images");
  CHECK(g.data[0].labels == "train-labels");
  CHECK(g.data[0].scale == doctest::Approx(1.0 / 255));
  CHECK(g.train.optimizer.kind == "sgd");
  CHECK(g.train.optimizer.learning_rate == 0.1);
  CHECK(g.train.optimizer.momentum == 0.9);
  CHECK(g.train.batch == 128);
  CHECK(g.train.epochs == 15);
  CHECK(g.train.seed == 3);
  CHECK_NOTHROW(verify(g));
}

TEST_CASE("lower: the objective's weights come from the constant factors of each term") {
  const std::string net =
      "input x : [4] <- image\ncode = dense(x, 2) |> sigmoid\nr = dense(code, 4) |> sigmoid\n";
  struct Row {
    const char* loss;
    std::vector<std::string> terms;
    std::vector<double> weights;
  };
  const std::vector<Row> table = {
      {"loss.bce(r, x) + 0.5 * loss.mse(r, x) - loss.mse(r,x)/4",
       {"loss.bce", "loss.mse", "loss.mse"},
       {1, 0.5, -0.25}},
      {"-loss.bce(r, x)", {"loss.bce"}, {-1}},
      {"loss.mse(r, x) * 3 - -(2 * loss.bce(r, x))", {"loss.mse", "loss.bce"}, {3, 2}},
      {"(1 - 0.5) * loss.mse(r, x) / 2 + 1e-3 * reg.l2(code.weights)", {"loss.mse", "reg.l2"}, {0.25, 0.001}},
      {"2 * (loss.bce(r, x) - 0.5 * reg.l1(code))", {"loss.bce", "reg.l1"}, {2, -1}},
  };
  for (const Row& row : table) {
    CAPTURE(row.loss);
    const Graph g = lower_text(net + "loss = " + row.loss + "\n");
    const Node& objective = g.node(g.objective);
    CHECK(objective.is(OpRole::Objective));
    REQUIRE(objective.inputs.size() == row.terms.size());
    for (size_t i = 0; i < row.terms.size(); ++i) {
      const Node& term = g.node(objective.inputs[i]);
      CHECK(term.is(OpRole::Term));
      CHECK(term.attributes_as<TermAttributes>().term == row.terms[i]);
      CHECK(term.dims.empty());
      CHECK(objective.attributes_as<ObjectiveAttributes>().weights[i] == doctest::Approx(row.weights[i]));
    }
  }
  const Graph g = lower_text(net + "loss = loss.bce(r, x, sum=1) + 1e-3 * reg.l2(code.weights)\n");
  const Node& bce = g.node(g.node(g.objective).inputs[0]);
  CHECK(bce.attributes_as<TermAttributes>().parameters == std::vector<double>{1});
  CHECK(g.node(g.node(g.objective).inputs[1]).inputs == ids(g, {"code.weights"}));
  CHECK(node(g, "code").inputs == ids(g, {"code.dense"}));
}

TEST_CASE("lower: names resolve in any order, and parameters keep their own statement's name") {
  // Each value is used on a line above its definition; lowering `recon` interrupts itself to lower `code`.
  const Graph g = lower_text(
      "loss  = loss.bce(recon, x) + 0.01 * reg.l2(code.weights)\n"
      "recon = dense(code, 6) |> sigmoid\n"
      "back  = dense(code, tied=code)\n"
      "code  = dense(x, 3) |> relu\n"
      "input x : [6] <- image\n");
  CHECK(parameter_shapes(g) == std::map<std::string, std::vector<int64_t>>{{"code.weights", {3, 6}},
                                                                           {"code.bias", {3}},
                                                                           {"recon.weights", {6, 3}},
                                                                           {"recon.bias", {6}},
                                                                           {"back.bias", {6}}});
  CHECK(node(g, "recon.dense").inputs == ids(g, {"code", "recon.weights", "recon.bias"}));
  CHECK(node(g, "back").inputs == ids(g, {"code", "code.weights", "back.bias"}));
  CHECK(node(g, "recon").dims == std::vector<int64_t>{6});
  CHECK_NOTHROW(verify(g));  // every input precedes its consumer
}

TEST_CASE("lower: 'a = b' leaves b's node and name alone") {
  const Graph g = lower_text(
      "input x : [6] <- image\ncode = dense(x, 3) |> relu\nsame = code\nraw = x\nw = code.weights\n"
      "loss = loss.mse(same, code) + reg.l2(w)\n");
  CHECK(node(g, "x").is(OpRole::Input));
  CHECK(node(g, "code").op->name() == std::string("relu"));
  CHECK(node(g, "code.weights").is(OpRole::Parameter));
  for (const char* alias : {"same", "raw"}) {  // a value gets a linear node under its new name
    CAPTURE(alias);
    CHECK(node(g, alias).op->name() == std::string("linear"));
    CHECK(node(g, alias).batched);
  }
  CHECK(node(g, "same").inputs == ids(g, {"code"}));
  CHECK(node(g, "raw").inputs == ids(g, {"x"}));
  // A parameter is not batched, so no activation can run on it: its other name refers to the same node.
  CHECK(g.find("w") == kNoNode);
  CHECK(g.node(g.node(g.objective).inputs[1]).inputs == ids(g, {"code.weights"}));
  CHECK(parameter_shapes(g).size() == 2);
}

TEST_CASE("lower: errors of in-memory text carry its file name and are all reported") {
  const std::string text =
      "input x : [4] <- image\nr = dense(x, 4) |> sigmoid\nloss = loss.bce(r, q) + loss.mse(rr, x)\n";
  DiagnosticSink sink;
  const ast::Program program = parse_graph("mem.graph", text, sink);
  REQUIRE_FALSE(sink.has_errors());
  CHECK(error_of([&] { lower(program, text, builtin_ops(), test::builtin_terms()); }) ==
        "mem.graph:3:20: error: unknown name 'q' (did you mean 'r' or 'x'?)\n"
        "mem.graph:3:34: error: unknown name 'rr' (did you mean 'r' or 'x'?)\n");
}

TEST_CASE("lower: train schedules, constant by default") {
  const std::string head = "input x : [4] <- image\ny = dense(x, 4)\nloss = loss.mse(y, x)\n";
  CHECK(lower_text(head + "train { optimizer = sgd(lr=0.1) }\n").train.schedule.kind == "constant");
  CHECK(describe(lower_text(head + "train { schedule = constant }\n").train.schedule) == "constant");
  const ScheduleSettings step =
      lower_text(head + "train { schedule = step(every=5, factor=0.5)  epochs = 20 }\n").train.schedule;
  CHECK(step.kind == "step");
  CHECK(step.every == 5);
  CHECK(step.factor == 0.5);
  CHECK(describe(step) == "step(every=5, factor=0.5)");
  const Graph cosine = lower_text(head + "train { optimizer = sgd(lr=0.2)  schedule = cosine(min=0.002) }\n");
  CHECK(cosine.train.schedule.kind == "cosine");
  CHECK(cosine.train.schedule.min == 0.002);
  CHECK(describe(cosine.train.schedule) == "cosine(min=0.002)");
  CHECK(describe(lower_text(head + "train { schedule = cosine }\n").train.schedule) == "cosine(min=0)");
}

TEST_CASE("scheduled_learning_rate: step multiplies by the factor every N epochs, cosine falls to min") {
  TrainSettings t;
  t.optimizer.learning_rate = 0.8;
  t.epochs = 10;
  CHECK(scheduled_learning_rate(t, 0, 100) == 0.8);
  CHECK(scheduled_learning_rate(t, 999, 100) == 0.8);
  t.schedule.kind = "step";
  t.schedule.every = 3;
  t.schedule.factor = 0.5;
  CHECK(scheduled_learning_rate(t, 0, 100) == 0.8);    // epoch 1
  CHECK(scheduled_learning_rate(t, 299, 100) == 0.8);  // the last step of epoch 3
  CHECK(scheduled_learning_rate(t, 300, 100) == 0.4);  // epoch 4
  CHECK(scheduled_learning_rate(t, 650, 100) == 0.2);  // epoch 7
  CHECK(scheduled_learning_rate(t, 999, 100) == 0.1);  // epoch 10
  t.schedule.kind = "cosine";
  t.schedule.min = 0.2;
  CHECK(scheduled_learning_rate(t, 0, 100) == 0.8);
  CHECK(scheduled_learning_rate(t, 500, 100) == doctest::Approx(0.5).epsilon(1e-12));  // halfway: the mean
  CHECK(scheduled_learning_rate(t, 250, 100) == doctest::Approx(0.2 + 0.6 * (1 + std::sqrt(0.5)) / 2));
  CHECK(scheduled_learning_rate(t, 999, 100) > 0.2);
  CHECK(scheduled_learning_rate(t, 999, 100) < 0.20001);
  double previous = 1;
  for (int64_t step = 0; step < 1000; step += 37) {
    CHECK(scheduled_learning_rate(t, step, 100) < previous);
    previous = scheduled_learning_rate(t, step, 100);
  }
}

TEST_CASE("apply_setting: --set lr may not fall to or below a cosine schedule's min") {
  TrainSettings settings;
  settings.optimizer.learning_rate = 0.1;
  settings.schedule.kind = "cosine";
  settings.schedule.min = 0.01;
  CHECK(error_of([&] { apply_setting(settings, "lr=0.01"); }) ==
        "--set lr=0.01: error: the cosine schedule's min (0.01) must be below the optimizer's lr (0.01)\n");
  CHECK(settings.optimizer.learning_rate == 0.1);
  apply_setting(settings, "lr=0.02");
  CHECK(settings.optimizer.learning_rate == 0.02);
}

TEST_CASE("apply_setting: --set overrides the train block") {
  TrainSettings settings;
  apply_setting(settings, "batch=32");
  apply_setting(settings, "epochs=3");
  apply_setting(settings, "seed=0");
  apply_setting(settings, "lr=0.5");
  apply_setting(settings, "momentum=0");
  apply_setting(settings, "momentum=0.8");
  CHECK(settings.batch == 32);
  CHECK(settings.epochs == 3);
  CHECK(settings.seed == 0);
  CHECK(settings.optimizer.learning_rate == 0.5);
  CHECK(settings.optimizer.momentum == 0.8);
  apply_setting(settings, "lr=1e-3");
  CHECK(settings.optimizer.learning_rate == 0.001);
}

TEST_CASE("apply_setting: a bad --set names the flag and leaves the settings unchanged") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"batch", "--set batch: error: expected key=value\n"},
      {"batch=0", "--set batch=0: error: batch must be a positive integer\n"},
      {"batch=2.5", "--set batch=2.5: error: batch must be a positive integer\n"},
      {"epochs=-1", "--set epochs=-1: error: epochs must be a positive integer\n"},
      {"test_every=0", "--set test_every=0: error: test_every must be a positive integer\n"},
      {"seed=-1", "--set seed=-1: error: seed must be a whole number from 0 to 2^53 (9007199254740992)\n"},
      {"seed=1.5", "--set seed=1.5: error: seed must be a whole number from 0 to 2^53 (9007199254740992)\n"},
      {"seed=1e30",
       "--set seed=1e30: error: seed must be a whole number from 0 to 2^53 (9007199254740992)\n"},
      {"lr=0", "--set lr=0: error: lr must be positive\n"},
      {"lr=-0.1", "--set lr=-0.1: error: lr must be positive\n"},
      {"lr=fast", "--set lr=fast: error: 'fast' is not a number\n"},
      {"lr=", "--set lr=: error: '' is not a number\n"},
      {"lr=inf", "--set lr=inf: error: 'inf' is not a number\n"},
      {"momentum=1", "--set momentum=1: error: momentum must be in [0, 1)\n"},
      {"epoch=3", "--set epoch=3: error: unknown setting 'epoch' (did you mean 'epochs'?)\n"},
      {"optimizer=adam",
       "--set optimizer=adam: error: unknown setting 'optimizer'; the settings are batch, epochs, seed, lr, "
       "momentum, test_every, precision, initializer, data.NAME.count and data.NAME.skip\n"},
  };
  for (const auto& assignment_message : cases) {  // not a structured binding: the lambdas below name it
    const auto &assignment = assignment_message.first, &message = assignment_message.second;
    CAPTURE(assignment);
    TrainSettings settings;
    CHECK(error_of([&] { apply_setting(settings, assignment); }) == message);
    CHECK(settings.batch == TrainSettings().batch);
    CHECK(settings.optimizer.learning_rate == TrainSettings().optimizer.learning_rate);
  }
  TrainSettings adam;
  adam.optimizer.kind = "adam";
  CHECK(error_of([&] { apply_setting(adam, "momentum=0.9"); }) ==
        "--set momentum=0.9: error: momentum applies to sgd, but the graph trains with adam\n");
}

TEST_CASE("data bindings take a slice, and --set data.NAME.count/skip changes it") {
  Graph g = lower_text(
      "data train = idx(\"images\", labels=\"labels\", skip=50000, count=10000)\n"
      "input x : [6] <- image\ncode = dense(x, 3) |> sigmoid\nloss = reg.l1(code)\n");
  REQUIRE(g.binding("train"));
  CHECK(g.binding("train")->skip == 50000);
  CHECK(g.binding("train")->count == 10000);
  apply_setting(g, "data.train.count=100");
  apply_setting(g, "data.train.skip=0");
  apply_setting(g, "epochs=7");
  CHECK(g.binding("train")->count == 100);
  CHECK(g.binding("train")->skip == 0);
  CHECK(g.train.epochs == 7);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"data.trian.count=5",
       "--set data.trian.count=5: error: the graph has no data 'trian' (did you mean 'train'?)\n"},
      {"data.train.size=5",
       "--set data.train.size=5: error: expected data.NAME.FIELD=VALUE with FIELD one of skip, count, "
       "subset.n, "
       "subset.seed, subset.balanced, split.valid, split.seed, split.stratify (like data.train.count=100)\n"},
      {"data.count=5",
       "--set data.count=5: error: expected data.NAME.FIELD=VALUE with FIELD one of skip, count, subset.n, "
       "subset.seed, subset.balanced, split.valid, split.seed, split.stratify (like data.train.count=100)\n"},
      {"data.train.count=-1",
       "--set data.train.count=-1: error: count must be a whole number >= 0, found '-1'\n"},
      {"data.train.skip=0.5",
       "--set data.train.skip=0.5: error: skip must be a whole number >= 0, found '0.5'\n"},
  };
  for (const auto& assignment_message : cases) {  // not a structured binding: the lambdas below name it
    const auto &assignment = assignment_message.first, &message = assignment_message.second;
    CAPTURE(assignment);
    CHECK(error_of([&] { apply_setting(g, assignment); }) == message);
    CHECK(g.binding("train")->count == 100);
  }
}

TEST_CASE("verify: passes on lowered graphs and catches a broken invariant") {
  Graph g = lower_text("input x : [6] <- image\ncode = dense(x, 3) |> sigmoid\nloss = reg.l1(code)\n");
  CHECK_NOTHROW(verify(g));
  Graph wrong_weights = g;
  wrong_weights.nodes[size_t(g.find("code.weights"))].dims = {6, 3};
  CHECK_THROWS_AS(verify(wrong_weights), std::logic_error);
  Graph forward_edge = g;
  forward_edge.nodes[size_t(g.find("code.dense"))].inputs[0] = g.find("code");
  CHECK_THROWS_AS(verify(forward_edge), std::logic_error);
}
