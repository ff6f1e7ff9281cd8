// topk: the k-sparse code keeps the k largest activations of each sample, ties to the lower index, and its
// gradient reaches the kept elements only.
#include <algorithm>
#include <vector>

#include "gradient_check.h"

using namespace hg;

// The kept set must not change under the check's perturbation (h = 1e-2), so tanh codes of a wide layer
// are compared against k of them; the objective then is smooth around the checked point.
HG_GRADIENT_CASE("topk", {"h = dense(x, 8) |> tanh\ncode = topk(h, 3)\nr = dense(code, 6) |> sigmoid\n"
                          "loss = loss.bce(r, x)"});
HG_GRADIENT_CASE("topk", {"h = dense(x, 5)\ncode = topk(h, 5)\nr = dense(code, 6) |> sigmoid\n"
                          "loss = loss.mse(r, x)"});

TEST_CASE("topk keeps the k largest of each sample and zeroes the rest") {
  test::TestModel m =
      test::model_from_text("input x : [5] <- image\nc = topk(x, 2)\nloss = loss.mse(c, x)\n", false);
  const NodeId x = m.graph.find("x"), c = m.graph.find("c");
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 2, PlanMode::Eval, {c});
  const std::vector<float> in = {0.5f, -1, 3, 2, 0.1f, /* a tie: the lower index wins */ 7, 1, 7, 7, -2};
  std::copy(in.begin(), in.end(), plan.buffer(x));
  plan.run_serial();
  const std::vector<float> out(plan.buffer(c), plan.buffer(c) + 10);
  CHECK(out == std::vector<float>{0, 0, 3, 2, 0, 7, 0, 7, 0, 0});
}

// ---- k annealing (Makhzani and Frey: k starts large and falls linearly over the first part of the run) ----

namespace {

// Elements of each row that a plan's output keeps (nonzero; the inputs below are never 0).
std::vector<int64_t> kept_per_row(const float* out, int64_t rows, int64_t features) {
  std::vector<int64_t> kept;
  for (int64_t r = 0; r < rows; ++r)
    kept.push_back(
        std::count_if(out + r * features, out + (r + 1) * features, [](float v) { return v != 0; }));
  return kept;
}

}  // namespace

TEST_CASE("topk anneals k from start to k over the first anneal of the run's steps, in training only") {
  // 10 features, k from 10 down to 2 over the first half of a 100-step run:
  // k_t = round(10 - 8 * min(1, t / 50)).
  test::TestModel m = test::model_from_text(
      "input x : [10] <- image\nh = dense(x, 10)\nc = topk(h, 2, start=10, anneal=0.5)\n"
      "r = dense(c, 10) |> sigmoid\nloss = loss.bce(r, x)\ntrain { optimizer = sgd(lr=1e-12) batch = 3 }\n");
  const NodeId x = m.graph.find("x"), h = m.graph.find("h"), c = m.graph.find("c");
  NodeId backward = kNoNode;  // d loss / d h through topk
  for (NodeId id = 0; id < NodeId(m.graph.nodes.size()); ++id)
    if (m.graph.node(id).op->name() == std::string("topk_backward")) backward = id;
  REQUIRE(backward != kNoNode);
  Plan train(m.graph, *m.parameters, test::builtin_plugins(), 3, PlanMode::Train, {h, c, backward});
  test::fill_uniform(train.buffer(x), 30, 4);
  const std::pair<int64_t, int64_t> schedule[] = {{0, 10}, {10, 8}, {25, 6}, {40, 4},
                                                  {49, 2}, {50, 2}, {99, 2}};
  for (const auto& [step, k] : schedule) {
    CAPTURE(step);
    train.set_progress({step, 100});
    train.run_serial();
    CHECK(kept_per_row(train.buffer(c), 3, 10) == std::vector<int64_t>(3, k));
    // The gradient reaches exactly the kept units: zero where the code is zero, nonzero where it is kept.
    const float *code = train.buffer(c), *grad = train.buffer(backward), *pre = train.buffer(h);
    for (int64_t i = 0; i < 30; ++i) {
      CAPTURE(i);
      if (code[i] == 0) {
        CHECK(grad[i] == 0);
      } else {
        CHECK(code[i] == pre[i]);
        CHECK(grad[i] != 0);
      }
    }
  }
  // A plan that train() does not drive stands at the end of the schedule; evaluation always keeps k.
  Plan fresh(m.graph, *m.parameters, test::builtin_plugins(), 3, PlanMode::Train, {c});
  test::fill_uniform(fresh.buffer(x), 30, 4);
  fresh.run_serial();
  CHECK(kept_per_row(fresh.buffer(c), 3, 10) == std::vector<int64_t>(3, 2));
  Plan eval(m.graph, *m.parameters, test::builtin_plugins(), 3, PlanMode::Eval, {c});
  eval.set_progress({0, 100});
  test::fill_uniform(eval.buffer(x), 30, 4);
  eval.run_serial();
  CHECK(kept_per_row(eval.buffer(c), 3, 10) == std::vector<int64_t>(3, 2));
}

TEST_CASE("topk's annealing attributes: defaults, describe and the kept units at the start") {
  test::TestModel m = test::model_from_text(
      "input x : [5] <- image\nc = topk(x, 1, start=4)\nr = dense(c, 5)\nloss = loss.mse(r, x)\n"
      "train { optimizer = sgd(lr=1e-12) batch = 1 }\n");
  const Node& c = m.graph.node(m.graph.find("c"));
  CHECK(c.op->describe(m.graph, c) == "topk(1, start=4, anneal=0.5)");
  const NodeId x = m.graph.find("x");
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 1, PlanMode::Train, {m.graph.find("c")});
  const std::vector<float> in = {0.5f, -1, 3, 2, 0.1f};
  std::copy(in.begin(), in.end(), plan.buffer(x));
  plan.set_progress({0, 10});  // the first step keeps start = 4: all but the smallest
  plan.run_serial();
  CHECK(std::vector<float>(plan.buffer(m.graph.find("c")), plan.buffer(m.graph.find("c")) + 5) ==
        std::vector<float>{0.5f, 0, 3, 2, 0.1f});
  plan.set_progress({5, 10});  // half the run: past the first half, k = 1
  plan.run_serial();
  CHECK(std::vector<float>(plan.buffer(m.graph.find("c")), plan.buffer(m.graph.find("c")) + 5) ==
        std::vector<float>{0, 0, 3, 0, 0});
}

// With start and anneal given, the gradient check runs at the end of the schedule, where k is final.
HG_GRADIENT_CASE("topk", {"h = dense(x, 8) |> tanh\ncode = topk(h, 3, start=6, anneal=0.25)\n"
                          "r = dense(code, 6) |> sigmoid\nloss = loss.bce(r, x)"});
