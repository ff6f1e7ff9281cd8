// Whole-graph gradient checks: the gradients that autodiff's backward nodes compute through the planned
// oneDNN kernels and plugin terms agree with central differences of the objective, for every op and for
// tied weights and weighted multi-term objectives.
#include <doctest/doctest.h>

#include <cmath>

#include "graph_fixture.h"
#include "plan/plan.h"

using namespace hg;

namespace {

const char* kHeader = "input x : [6] <- image\ninput y : [4] <- label\n";

// Objective of the eval plan at the current parameters.
double objective(const Graph& g, ParameterStore& p, Plan& eval) {
  eval.run_serial();
  return eval.value(g.objective);
}

void check_gradients(const std::string& body, double tolerance = 2e-2, const std::string& header = kHeader) {
  CAPTURE(body);
  // lr = 0 keeps the parameters still while the optimizer step runs; momentum 0 keeps state out of it.
  test::TestModel m =
      test::model_from_text(header + body + "\ntrain { optimizer = sgd(lr=1e-12) batch = 3 }\n");
  Plan train(m.graph, *m.parameters, test::builtin_plugins(), 3, PlanMode::Train);
  Plan eval(m.graph, *m.parameters, test::builtin_plugins(), 3, PlanMode::Eval);
  for (Plan* plan : {&train, &eval}) {
    test::fill_uniform(plan->buffer(m.graph.find("x")),
                       3 * m.graph.node(m.graph.find("x")).elements_per_sample(), 11);
    if (float* y = plan->buffer(m.graph.find("y"))) {  // absent when no term reads the labels
      std::fill(y, y + 12, 0.0f);
      for (int r = 0; r < 3; ++r) y[r * 4 + (r + 1) % 4] = 1.0f;
    }
  }
  train.run_serial();
  int checked = 0;
  for (const ParameterSlot& s : m.parameters->slots()) {
    float* value = m.parameters->values() + s.offset;
    const float* gradient = m.parameters->gradients() + s.offset;
    for (int64_t i = 0; i < s.count; i += std::max<int64_t>(1, s.count / 7)) {
      const float saved = value[i];
      const double h = 1e-2;
      value[i] = float(saved + h);
      const double up = objective(m.graph, *m.parameters, eval);
      value[i] = float(saved - h);
      const double down = objective(m.graph, *m.parameters, eval);
      value[i] = saved;
      const double numeric = (up - down) / (2 * h);
      CAPTURE(s.name);
      CAPTURE(i);
      CHECK(std::abs(numeric - gradient[i]) <= tolerance * std::max(1e-2, std::abs(numeric)));
      ++checked;
    }
  }
  CHECK(checked > 0);
}

}  // namespace

TEST_CASE("gradients of dense with each activation match finite differences") {
  for (const char* activation : {"sigmoid", "tanh", "linear", "relu"})
    check_gradients(std::string("h = dense(x, 5) |> ") + activation +
                    "\nr = dense(h, 6) |> sigmoid\nloss = loss.mse(r, x)");
}

TEST_CASE("gradients through softmax and softmax cross-entropy match finite differences") {
  check_gradients(
      "h = dense(x, 5) |> tanh\nlogits = dense(h, 4)\np = softmax(logits)\nloss = loss.mse(p, y)");
  check_gradients("h = dense(x, 5) |> relu\nlogits = dense(h, 4)\nloss = loss.softmax_ce(logits, y)");
}

TEST_CASE("tied weights collect the gradient of both uses") {
  check_gradients(
      "code = dense(x, 3) |> sigmoid\nr = dense(code, 6, tied=code) |> sigmoid\nloss = loss.bce(r, x)");
}

TEST_CASE("a weighted sum of terms gets the weighted sum of their gradients") {
  check_gradients(
      "h = dense(x, 4) |> sigmoid\nr = dense(h, 6) |> sigmoid\n"
      "loss = 0.5 * loss.bce(r, x) + 2 * loss.mse(r, x) - loss.mse(r, x) / 4");
}

TEST_CASE("a value used twice sums the gradients from both consumers") {
  check_gradients(
      "h = dense(x, 4) |> tanh\na = dense(h, 6) |> sigmoid\nb = dense(h, 6) |> sigmoid\n"
      "loss = loss.mse(a, x) + loss.bce(b, x)");
}

TEST_CASE("bias-free dense layers differentiate too") {
  check_gradients(
      "h = dense(x, 4, bias=0) |> tanh\nr = dense(h, 6, bias=0) |> sigmoid\nloss = loss.bce(r, x)");
}

// Spatial ops on [C, H, W] samples: images of 1x6x6 (36 pixels).
const char* kImageHeader = "input x : [1, 6, 6] <- image\ninput y : [4] <- label\n";

TEST_CASE("gradients through conv2d, pooling and reshape match finite differences") {
  check_gradients(
      "c = conv2d(x, 3, kernel=3, pad=1) |> tanh\np = avgpool(c, kernel=2)\nf = reshape(p, 27)\n"
      "r = dense(f, 36) |> sigmoid\nflat = reshape(x, 36)\nloss = loss.mse(r, flat)",
      2e-2, kImageHeader);
  check_gradients(
      "c = conv2d(x, 2, kernel=3, stride=2, pad=1) |> sigmoid\np = maxpool(c, kernel=3, stride=1)\n"
      "f = reshape(p, 2)\nlogits = dense(f, 4)\nloss = loss.softmax_ce(logits, y)",
      2e-2, kImageHeader);
}

TEST_CASE("gradients through a transposed convolution match finite differences") {
  check_gradients(
      "e = conv2d(x, 2, kernel=4, stride=2, pad=1) |> tanh\n"
      "r = deconv2d(e, 1, kernel=4, stride=2, pad=1) |> sigmoid\nloss = loss.bce(r, x)",
      2e-2, kImageHeader);
}

TEST_CASE("bias-free convolutions differentiate too") {
  check_gradients(
      "e = conv2d(x, 2, kernel=3, bias=0) |> tanh\nr = deconv2d(e, 1, kernel=3, bias=0) |> sigmoid\n"
      "loss = loss.bce(r, x)",
      2e-2, kImageHeader);
}
