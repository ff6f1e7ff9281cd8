// sample.normal: the reparameterization's gradient, its draws in training and its mean in evaluation.
#include <cmath>

#include "gradient_check.h"
#include "kernels/threading.h"

using namespace hg;

HG_GRADIENT_CASE(
    "sample.normal",
    {"h = dense(x, 5) |> tanh\nmu = dense(h, 3)\nlogvar = dense(h, 3)\nz = sample.normal(mu, logvar)\n"
     "r = dense(z, 6) |> sigmoid\nloss = loss.bce(r, x) + reg.kl_normal(mu, logvar)"});

namespace {
struct Vae {
  test::TestModel m = test::model_from_text(
      "input x : [64] <- image\nmu = dense(x, 64)\nlogvar = dense(x, 64)\nz = sample.normal(mu, logvar)\n"
      "loss = loss.mse(z, x)\n");
  NodeId mu = m.graph.find("mu"), logvar = m.graph.find("logvar"), z = m.graph.find("z");
};
}  // namespace

TEST_CASE("sample.normal draws mu + exp(logvar/2) eps in training, returns mu in evaluation") {
  Vae v;
  Plan eval(v.m.graph, *v.m.parameters, test::builtin_plugins(), 32, PlanMode::Eval, {v.mu, v.logvar, v.z});
  Plan sampled(v.m.graph, *v.m.parameters, test::builtin_plugins(), 32, PlanMode::Sampled,
               {v.mu, v.logvar, v.z});
  for (Plan* p : {&eval, &sampled}) test::fill_uniform(p->buffer(v.m.graph.find("x")), 32 * 64, 3);
  eval.run_serial();
  const int64_t n = 32 * 64;
  for (int64_t i = 0; i < n; ++i) REQUIRE(eval.buffer(v.z)[i] == eval.buffer(v.mu)[i]);
  sampled.set_step_seed(7);
  sampled.run_serial();
  // eps = (z - mu) / sigma is standard normal: mean ~0, variance ~1 over 2048 draws.
  double sum = 0, squares = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double eps =
        (sampled.buffer(v.z)[i] - sampled.buffer(v.mu)[i]) / std::exp(0.5 * sampled.buffer(v.logvar)[i]);
    sum += eps;
    squares += eps * eps;
  }
  const double mean = sum / double(n), variance = squares / double(n) - mean * mean;
  CHECK(std::abs(mean) < 0.1);
  CHECK(variance == doctest::Approx(1).epsilon(0.1));
  // The same step seed draws the same eps; another draws others.
  const std::vector<float> first(sampled.buffer(v.z), sampled.buffer(v.z) + n);
  sampled.run_serial();
  CHECK(std::equal(first.begin(), first.end(), sampled.buffer(v.z)));
  sampled.set_step_seed(8);
  sampled.run_serial();
  CHECK_FALSE(std::equal(first.begin(), first.end(), sampled.buffer(v.z)));
}

TEST_CASE("sample.normal's draws do not depend on the thread count") {
  Vae v;
  std::vector<std::vector<float>> runs;
  const int saved = math_threads();
  for (int threads : {1, 2}) {
    set_math_threads(threads);
    Plan sampled(v.m.graph, *v.m.parameters, test::builtin_plugins(), 64, PlanMode::Sampled, {v.z});
    test::fill_uniform(sampled.buffer(v.m.graph.find("x")), 64 * 64, 3);
    sampled.set_step_seed(11);
    sampled.run_serial();
    runs.emplace_back(sampled.buffer(v.z), sampled.buffer(v.z) + 64 * 64);
  }
  set_math_threads(saved);
  CHECK(runs[0] == runs[1]);
}
