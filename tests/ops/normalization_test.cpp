// batchnorm and layernorm: gradient checks (batchnorm's through batch statistics, as trained), the running
// statistics that training moves and evaluation uses, their buffers' names and initial values, and that the
// optimizer never touches them.
#include <cmath>
#include <vector>

#include "gradient_check.h"

using namespace hg;
using hg::test::kImageHeader;

HG_GRADIENT_CASE("batchnorm", {"h = dense(x, 4)\nn = batchnorm(h) |> tanh\nr = dense(n, 6) |> sigmoid\n"
                               "loss = loss.bce(r, x)"});
HG_GRADIENT_CASE("batchnorm", {"e = conv2d(x, 2, kernel=3, pad=1)\nn = batchnorm(e, momentum=0.5) |> tanh\n"
                               "r = conv2d(n, 1, kernel=3, pad=1) |> sigmoid\nloss = loss.bce(r, x)",
                               kImageHeader});
HG_GRADIENT_CASE("layernorm", {"h = dense(x, 4)\nn = layernorm(h) |> tanh\nr = dense(n, 6) |> sigmoid\n"
                               "loss = loss.bce(r, x)"});
HG_GRADIENT_CASE("layernorm", {"e = conv2d(x, 2, kernel=3, pad=1)\nn = layernorm(e) |> tanh\n"
                               "r = conv2d(n, 1, kernel=3, pad=1) |> sigmoid\nloss = loss.mse(r, x)",
                               kImageHeader});

namespace {

const char* const kBatchnorm =
    "input x : [2] <- image\nh = dense(x, 2)\nn = batchnorm(h, momentum=0.25)\nr = dense(n, 2) |> sigmoid\n"
    "loss = loss.mse(r, x)\ntrain { optimizer = sgd(lr=0.5) batch = 4 }\n";

std::vector<float> slot_values(test::TestModel& m, const std::string& name) {
  const ParameterSlot* s = m.parameters->slot(name);
  REQUIRE(s != nullptr);
  const float* p = m.parameters->values() + s->offset;
  return std::vector<float>(p, p + s->count);
}

}  // namespace

TEST_CASE("batchnorm: parameters and buffers, their names, shapes and initial values") {
  test::TestModel m = test::model_from_text(kBatchnorm);
  CHECK(slot_values(m, "n.weights") == std::vector<float>{1, 1});
  CHECK(slot_values(m, "n.bias") == std::vector<float>{0, 0});
  CHECK(slot_values(m, "n.running_mean") == std::vector<float>{0, 0});
  CHECK(slot_values(m, "n.running_var") == std::vector<float>{1, 1});
  CHECK(m.parameters->slot("n.weights")->trainable);
  CHECK_FALSE(m.parameters->slot("n.running_mean")->trainable);
  CHECK(m.parameters->slot("n.running_var")->buffer);
  CHECK(m.graph.parameter_gradient.count(m.graph.find("n.running_mean")) == 0);
  const test::TestModel c = test::model_from_text(
      "input x : [2, 3, 3] <- image\nn = batchnorm(x)\nl = layernorm(x)\nloss = loss.mse(flatten(n), "
      "flatten(l))\n",
      false);
  CHECK(c.parameters->slot("n.running_var")->dims == std::vector<int64_t>{2});
  CHECK(c.parameters->slot("l.weights")->dims == std::vector<int64_t>{18});
  CHECK(c.parameters->slot("l.running_mean") == nullptr);
}

TEST_CASE("batchnorm: training moves the running statistics, evaluation reads them and moves nothing") {
  test::TestModel m = test::model_from_text(kBatchnorm);
  const NodeId x = m.graph.find("x"), h = m.graph.find("h"), n = m.graph.find("n");
  const std::vector<float> input = {0.1f, 0.9f, 0.4f, 0.3f, 0.8f, 0.2f, 0.6f, 0.7f};
  std::vector<float> hidden;
  {
    Plan train(m.graph, *m.parameters, test::builtin_plugins(), 4, PlanMode::Train, {h, n});
    std::copy(input.begin(), input.end(), train.buffer(x));
    train.run_serial();
    hidden.assign(train.buffer(h), train.buffer(h) + 8);
    // The training forward normalizes with the batch's own statistics: each feature has mean 0, variance 1.
    for (int f = 0; f < 2; ++f) {
      double mean = 0, square = 0;
      for (int i = 0; i < 4; ++i) mean += train.buffer(n)[i * 2 + f] / 4.0;
      for (int i = 0; i < 4; ++i) square += std::pow(train.buffer(n)[i * 2 + f] - mean, 2) / 4.0;
      CHECK(std::abs(mean) < 1e-6);
      CHECK(square == doctest::Approx(1).epsilon(1e-2));  // var / (var + epsilon)
    }
  }
  // r = (1 - momentum) r + momentum s, s the batch mean and the unbiased variance of h's features.
  const std::vector<float> running_mean = slot_values(m, "n.running_mean");
  const std::vector<float> running_var = slot_values(m, "n.running_var");
  for (int f = 0; f < 2; ++f) {
    double mean = 0, square = 0;
    for (int i = 0; i < 4; ++i) mean += hidden[size_t(i * 2 + f)] / 4.0;
    for (int i = 0; i < 4; ++i) square += std::pow(hidden[size_t(i * 2 + f)] - mean, 2);
    CHECK(running_mean[size_t(f)] == doctest::Approx(0.25 * mean).epsilon(1e-5));
    CHECK(running_var[size_t(f)] == doctest::Approx(0.75 + 0.25 * square / 3).epsilon(1e-5));
  }
  // Evaluation: (h - running_mean) / sqrt(running_var + eps) * weights + bias, and the buffers stay put.
  Plan eval(m.graph, *m.parameters, test::builtin_plugins(), 4, PlanMode::Eval, {h, n});
  std::copy(input.begin(), input.end(), eval.buffer(x));
  eval.run_serial();
  const std::vector<float> gamma = slot_values(m, "n.weights"), beta = slot_values(m, "n.bias");
  for (int i = 0; i < 8; ++i) {
    const int f = i % 2;
    const double expect = (eval.buffer(h)[i] - running_mean[size_t(f)]) /
                              std::sqrt(double(running_var[size_t(f)]) + 1e-5) * gamma[size_t(f)] +
                          beta[size_t(f)];
    CHECK(eval.buffer(n)[i] == doctest::Approx(expect).epsilon(1e-5));
  }
  CHECK(slot_values(m, "n.running_mean") == running_mean);
  CHECK(slot_values(m, "n.running_var") == running_var);
}

TEST_CASE("batchnorm: the optimizer steps the scale and shift, never the buffers' gradient slots") {
  test::TestModel m = test::model_from_text(kBatchnorm);
  Plan train(m.graph, *m.parameters, test::builtin_plugins(), 4, PlanMode::Train);
  test::fill_uniform(train.buffer(m.graph.find("x")), 8, 5);
  train.run_serial();
  const ParameterSlot* mean = m.parameters->slot("n.running_mean");
  for (int64_t i = 0; i < mean->count; ++i) CHECK(m.parameters->gradients()[mean->offset + i] == 0);
  CHECK(slot_values(m, "n.bias") != std::vector<float>{0, 0});  // the shift did train
}

// lr = 1e-12: the training plan's optimizer step leaves the scale and shift as they were for the evaluation.
TEST_CASE("layernorm normalizes each sample over its elements, the same in training and evaluation") {
  test::TestModel m = test::model_from_text(
      "input x : [3] <- image\nn = layernorm(x)\nloss = loss.mse(n, x)\n"
      "train { optimizer = sgd(lr=1e-12) }\n");
  const NodeId x = m.graph.find("x"), n = m.graph.find("n");
  for (PlanMode mode : {PlanMode::Train, PlanMode::Eval}) {
    Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 2, mode, {n});
    const std::vector<float> input = {1, 2, 3, 5, 5, 8};
    std::copy(input.begin(), input.end(), plan.buffer(x));
    plan.run_serial();
    const double inverse0 = 1 / std::sqrt(2.0 / 3 + 1e-5), inverse1 = 1 / std::sqrt(2.0 + 1e-5);
    CHECK(plan.buffer(n)[0] == doctest::Approx(-inverse0));
    CHECK(plan.buffer(n)[2] == doctest::Approx(inverse0));
    CHECK(plan.buffer(n)[3] == doctest::Approx(-inverse1));
    CHECK(plan.buffer(n)[5] == doctest::Approx(2 * inverse1));
  }
}

TEST_CASE("batchnorm: freeze and lr_mult globs reach the scale and shift, never the buffers") {
  test::TestModel boosted = test::model_from_text(std::string(kBatchnorm) + "lr_mult \"n.*\" = 2\n");
  CHECK(boosted.parameters->slot("n.weights")->lr_mult == 2);
  CHECK(boosted.parameters->slot("n.running_mean")->lr_mult == 1);
  CHECK_FALSE(boosted.parameters->slot("n.running_mean")->trainable);
  test::TestModel frozen = test::model_from_text(std::string(kBatchnorm) + "freeze \"n.*\"\n");
  CHECK_FALSE(frozen.parameters->slot("n.weights")->trainable);
  CHECK_FALSE(frozen.parameters->slot("n.weights")->buffer);
  CHECK(frozen.parameters->slot("n.running_var")->buffer);
}
