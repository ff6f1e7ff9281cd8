// Arithmetic on values (+ - * /, their constants and broadcasts) and the unary ops: the shape table of what
// lowering infers, values computed by a plan against hand-written loops, and finite-difference gradients.
#include <cmath>

#include "gradient_check.h"

using namespace hg;
using hg::test::model_from_text;

namespace {

// h and g are two [4] batches, h.bias a per-feature [4] parameter, m a per-sample [1] value.
const char* const kValues =
    "input x : [6] <- image\nh = dense(x, 4) |> tanh\ng = dense(x, 4) |> sigmoid\nm = sum(h)\n";

struct Expected {
  const char* expression;
  std::vector<int64_t> dims;
  bool batched;
};

}  // namespace

TEST_CASE("arithmetic: shape table of equal shapes, constants and broadcasts") {
  const Expected table[] = {
      {"h + g", {4}, true},
      {"h - g", {4}, true},
      {"h * g", {4}, true},
      {"h / g", {4}, true},
      {"0.5 * h", {4}, true},
      {"1 + h", {4}, true},
      {"h / 2", {4}, true},
      {"-0.5 * h", {4}, true},
      {"h + h.bias", {4}, true},
      {"h.bias * g", {4}, true},
      {"h * m", {4}, true},
      {"m - h", {4}, true},
      {"m + h.bias", {4}, true},
      {"h.bias * h.bias", {4}, false},
      {"-h", {4}, true},
      {"exp(h)", {4}, true},
      {"log(g)", {4}, true},
      {"sqrt(g)", {4}, true},
      {"square(h.bias)", {4}, false},
      {"abs(h)", {4}, true},
      {"add(h, g)", {4}, true},
      {"neg(h)", {4}, true},
      {"sum(h)", {1}, true},
      {"mean(h)", {1}, true},
      {"sum(h, batch=1)", {}, false},
      {"mean(h, batch=1)", {}, false},
      {"sum(h.weights)", {}, false},
      {"m + sum(h, batch=1)", {1}, true},
  };
  for (const Expected& e : table) {
    CAPTURE(e.expression);
    test::TestModel m =
        model_from_text(std::string(kValues) + "v = " + e.expression + "\nloss = loss.mse(h, h)\n", false);
    const Node& v = m.graph.node(m.graph.find("v"));
    CHECK(v.dims == e.dims);
    CHECK(v.batched == e.batched);
  }
}

TEST_CASE("arithmetic: a plan computes each expression as the loops below do") {
  test::TestModel m = model_from_text(std::string(kValues) +
                                          "a = 2 - h * g.bias / (1 + square(g))\n"
                                          "b = exp(-h) + sqrt(g) * log(g) - abs(h) / m\n"
                                          "s = sum(a, batch=1)\nmu = mean(b)\nloss = loss.mse(h, h)\n",
                                      false);
  const int64_t batch = 5;
  std::vector<NodeId> keep;
  for (const char* name : {"h", "g", "m", "a", "b", "s", "mu"}) keep.push_back(m.graph.find(name));
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), batch, PlanMode::Eval, keep);
  test::fill_uniform(plan.buffer(m.graph.find("x")), batch * 6, 3);
  plan.run_serial();
  auto buffer = [&](const char* name) { return plan.buffer(m.graph.find(name)); };
  const float *h = buffer("h"), *g = buffer("g"), *mv = buffer("m"), *a = buffer("a"), *b = buffer("b");
  const float* bias = m.parameters->value(m.graph.find("g.bias"));
  double total = 0;
  for (int64_t n = 0; n < batch; ++n) {
    double sum_h = 0, sum_b = 0;
    for (int64_t f = 0; f < 4; ++f) sum_h += h[n * 4 + f];
    CHECK(mv[n] == doctest::Approx(sum_h).epsilon(1e-4));
    for (int64_t f = 0; f < 4; ++f) {
      const int64_t i = n * 4 + f;
      const double expect_a = 2 - h[i] * bias[f] / (1 + g[i] * g[i]);
      const double expect_b = std::exp(-h[i]) + std::sqrt(g[i]) * std::log(g[i]) - std::fabs(h[i]) / mv[n];
      CHECK(a[i] == doctest::Approx(expect_a).epsilon(1e-4));
      CHECK(b[i] == doctest::Approx(expect_b).epsilon(1e-4));
      total += a[i];
      sum_b += b[i];
    }
    CHECK(buffer("mu")[n] == doctest::Approx(sum_b / 4).epsilon(1e-4));
  }
  CHECK(buffer("s")[0] == doctest::Approx(total).epsilon(1e-4));
}

TEST_CASE("arithmetic: the loss keeps its weighted sum of terms, now next to reduced values") {
  test::TestModel m = model_from_text(
      "input x : [6] <- image\nmu = dense(x, 3)\nlogvar = dense(x, 3)\n"
      "kl = -0.5 * sum(1 + logvar - square(mu) - exp(logvar))\nr = dense(mu, 6) |> sigmoid\n"
      "loss = loss.bce(r, x) + mean(kl) - 2 * loss.mse(r, x)\n",
      false);
  const Node& objective = m.graph.node(m.graph.objective);
  REQUIRE(objective.inputs.size() == 3);
  CHECK(objective.attributes_as<ObjectiveAttributes>().weights == std::vector<double>{1, 1, -2});
  CHECK(m.graph.node(objective.inputs[1]).op->name() == std::string("mean"));
  const Node& kl = m.graph.node(m.graph.find("kl"));
  CHECK(kl.op->name() == std::string("mul"));
  CHECK(kl.dims == std::vector<int64_t>{1});
}

// Each case keeps every value away from where its op is not differentiable (abs at 0, log and sqrt at 0).
HG_GRADIENT_CASE("add", {"h = dense(x, 4) |> tanh\ng = dense(x, 4) |> tanh\ns = h + g\n"
                         "r = dense(s, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE("add", {"h = dense(x, 4) |> tanh\ng = dense(h, 4)\ns = 1 + h + g.bias\n"
                         "r = dense(s, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE("sub", {"h = dense(x, 4) |> tanh\ng = dense(h, 4)\ns = g.bias - h - 1\n"
                         "r = dense(s, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE("mul", {"h = dense(x, 4) |> tanh\ng = dense(x, 4) |> tanh\ns = 0.5 * h * g\n"
                         "r = dense(s, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE("mul", {"h = dense(x, 4) |> tanh\ng = dense(h, 4)\nm = sum(g)\ns = h * m * g.bias\n"
                         "r = dense(s, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE("div", {"h = dense(x, 4) |> tanh\ng = dense(x, 4) |> tanh\ns = h / (2 + square(g)) / 3\n"
                         "r = dense(s, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE("div", {"h = dense(x, 4) |> tanh\ns = 2 / (2 + h)\nr = dense(s, 6) |> sigmoid\n"
                         "loss = loss.mse(r, x)"});
HG_GRADIENT_CASE("neg",
                 {"h = dense(x, 4) |> tanh\ns = -h\nr = dense(s, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE("exp",
                 {"h = dense(x, 4) |> tanh\ns = exp(h)\nr = dense(s, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE("log", {"h = dense(x, 4) |> sigmoid\ns = log(h)\nr = dense(s, 6) |> sigmoid\n"
                         "loss = loss.mse(r, x)"});
HG_GRADIENT_CASE("sqrt", {"h = dense(x, 4) |> sigmoid\ns = sqrt(h)\nr = dense(s, 6) |> sigmoid\n"
                          "loss = loss.mse(r, x)"});
HG_GRADIENT_CASE("square", {"h = dense(x, 4) |> tanh\nr = dense(h, 6) |> sigmoid\n"
                            "loss = loss.mse(r, x) + 0.01 * sum(square(h.weights)) + mean(square(h))"});
HG_GRADIENT_CASE("abs", {"h = dense(x, 4) |> tanh\ns = abs(h - 3)\nr = dense(s, 6) |> sigmoid\n"
                         "loss = loss.mse(r, x)"});
// The VAE's KL divergence to N(0, I), written by hand.
HG_GRADIENT_CASE("mul", {"mu = dense(x, 3)\nlogvar = dense(x, 3)\n"
                         "kl = -0.5 * sum(1 + logvar - square(mu) - exp(logvar))\n"
                         "r = dense(mu, 6) |> sigmoid\nloss = loss.bce(r, x) + mean(kl)"});

// ---- per-channel broadcasting
// ------------------------------------------------------------------------------

namespace {

// c is a batch of [3, 6, 6] images, c.bias a per-channel [3] parameter, g a per-sample per-channel [3]
// (a squeeze-and-excitation gate) and q the same as [3, 1, 1].
const char* const kImages =
    "input x : [1, 6, 6] <- image\nc = conv2d(x, 3, pad=1) |> tanh\ng = dense(flatten(x), 3) |> sigmoid\n"
    "q = reshape(g, 3, 1, 1)\n";

}  // namespace

TEST_CASE("arithmetic: a per-channel [C] or [C, 1, 1] value broadcasts over [C, H, W] images") {
  const Expected table[] = {
      {"c + c.bias", {3, 6, 6}, true}, {"c.bias * c", {3, 6, 6}, true},     {"c * g", {3, 6, 6}, true},
      {"g - c", {3, 6, 6}, true},      {"c / q", {3, 6, 6}, true},          {"q * c", {3, 6, 6}, true},
      {"mul(c, g)", {3, 6, 6}, true},  {"c * g + c.bias", {3, 6, 6}, true},
  };
  for (const Expected& e : table) {
    CAPTURE(e.expression);
    test::TestModel m =
        model_from_text(std::string(kImages) + "v = " + e.expression + "\nloss = loss.mse(c, c)\n", false);
    const Node& v = m.graph.node(m.graph.find("v"));
    CHECK(v.dims == e.dims);
    CHECK(v.batched == e.batched);
  }
}

TEST_CASE("arithmetic: per-channel values meet each channel's pixels, in a plan as in the loops below") {
  test::TestModel m = model_from_text(std::string(kImages) +
                                          "a = c * g + c.bias\nb = q - c / (2 + square(g))\n"
                                          "loss = loss.mse(c, c)\n",
                                      false);
  // The bias starts at zero, which would hide a bias read from the wrong element.
  float* bias = m.parameters->value(m.graph.find("c.bias"));
  for (int ch = 0; ch < 3; ++ch) bias[ch] = 0.25f * float(ch + 1);
  const int64_t batch = 4, pixels = 36;
  std::vector<NodeId> keep;
  for (const char* name : {"c", "g", "a", "b"}) keep.push_back(m.graph.find(name));
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), batch, PlanMode::Eval, keep);
  test::fill_uniform(plan.buffer(m.graph.find("x")), batch * pixels, 5);
  plan.run_serial();
  auto buffer = [&](const char* name) { return plan.buffer(m.graph.find(name)); };
  const float *c = buffer("c"), *g = buffer("g"), *a = buffer("a"), *b = buffer("b");
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t ch = 0; ch < 3; ++ch)
      for (int64_t p = 0; p < pixels; ++p) {
        const int64_t i = (n * 3 + ch) * pixels + p;
        const float gate = g[n * 3 + ch];
        CHECK(a[i] == doctest::Approx(c[i] * gate + bias[ch]).epsilon(1e-5));
        CHECK(b[i] == doctest::Approx(gate - c[i] / (2 + gate * gate)).epsilon(1e-5));
      }
}

// The gradient of a per-channel operand sums over its channel's pixels (and over the batch, unbatched).
HG_GRADIENT_CASE("add", {"c = conv2d(x, 2, pad=1) |> tanh\ng = dense(flatten(x), 2) |> tanh\n"
                         "s = c + g + c.bias\nr = conv2d(s, 1, pad=1) |> sigmoid\nloss = loss.mse(r, x)",
                         test::kImageHeader});
HG_GRADIENT_CASE("mul", {"c = conv2d(x, 2, pad=1) |> tanh\ng = dense(flatten(x), 2) |> tanh\n"
                         "s = c * g + c.bias * c\nr = conv2d(s, 1, pad=1) |> sigmoid\nloss = loss.mse(r, x)",
                         test::kImageHeader});
HG_GRADIENT_CASE("sub", {"c = conv2d(x, 2, pad=1) |> tanh\ng = dense(flatten(x), 2) |> tanh\n"
                         "s = g - c\nr = conv2d(s, 1, pad=1) |> sigmoid\nloss = loss.mse(r, x)",
                         test::kImageHeader});
HG_GRADIENT_CASE("div", {"c = conv2d(x, 2, pad=1) |> tanh\ng = dense(flatten(x), 2) |> tanh\n"
                         "q = reshape(g, 2, 1, 1)\ns = c / (2 + square(q)) + q / (2 + square(c))\n"
                         "r = conv2d(s, 1, pad=1) |> sigmoid\nloss = loss.mse(r, x)",
                         test::kImageHeader});
