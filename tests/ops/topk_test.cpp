// topk: the k-sparse code keeps the k largest activations of each sample, ties to the lower index, and its
// gradient reaches the kept elements only.
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
