// The built-in regularizers: values against hand-computed ones, gradients against central differences for
// every input, contractive's shape check and NULL gradient buffers, and bit-identical results whatever the
// threading.
#include <doctest/doctest.h>

#include <cmath>

#include "plugin/term_test_util.h"

using namespace hg;
using namespace hg::test;

namespace {

const SourceLocation kNode{"reg.graph", 7, 9};

struct Input {
  std::vector<int64_t> dims;
  std::vector<float> data;

  hg_tensor tensor(std::vector<float>& values) const { return view(values, dims); }
};

// A regularizer over its inputs, with its parameter values.
struct Case {
  const char* name;
  std::vector<Input> inputs;
  std::vector<double> params;

  std::vector<hg_tensor> views() {
    std::vector<hg_tensor> views;
    for (Input& input : inputs) views.push_back(input.tensor(input.data));
    return views;
  }
  double value(const hg_host* host = serial_host()) {
    const std::vector<hg_tensor> views = this->views();
    return call_term_value(builtin_term(name), make_call(views, params, host), kNode);
  }
  // scale * d value / d input[i], added into zeroed buffers; inputs not in `wanted` get a NULL buffer.
  std::vector<std::vector<float>> gradient(float scale, const hg_host* host = serial_host(),
                                           std::vector<bool> wanted = {}) {
    std::vector<std::vector<float>> diffs;
    std::vector<hg_tensor> diff_views;
    for (Input& input : inputs) diffs.emplace_back(input.data.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      diff_views.push_back(inputs[i].tensor(diffs[i]));
      if (!wanted.empty() && !wanted[i]) diff_views.back().data = nullptr;
    }
    const std::vector<hg_tensor> views = this->views();
    call_term_gradient(builtin_term(name), make_call(views, params, host), scale, diff_views.data(), kNode);
    return diffs;
  }
};

void check_gradient(Case c) {
  CAPTURE(c.name);
  const float scale = 0.75f;
  const std::vector<std::vector<float>> analytic = c.gradient(scale);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    CAPTURE(i);
    check_gradient_matches(analytic[i], numeric_gradient(c.inputs[i].data, [&c] { return c.value(); }),
                           scale);
  }
}

// Uniform in +-[0.05, 1]: away from 0, where |h| has no derivative.
std::vector<float> away_from_zero(size_t n, unsigned seed) {
  std::vector<float> v = uniform(n, 0.05f, 1, seed);
  for (size_t i = 0; i < n; i += 2) v[i] = -v[i];
  return v;
}

double kl(double rho, double rho_hat) {
  return rho * std::log(rho / rho_hat) + (1 - rho) * std::log((1 - rho) / (1 - rho_hat));
}

}  // namespace

TEST_CASE("l1: per-sample sum of |h| averaged over the batch, subgradient sign(h)/N with 0 at 0") {
  Case c{"reg.l1", {{{2, 3}, {1, -2, 0, 0.5f, 0, -3}}}, {}};
  CHECK(c.value() == doctest::Approx(6.5 / 2));
  const std::vector<float> diff = c.gradient(2.0f)[0];
  CHECK(diff == std::vector<float>{1, -1, 0, 1, 0, -1});  // 2 * sign / 2
}

TEST_CASE("kl_sparsity: sum over units of KL(rho || batch mean), finite for dead and saturated units") {
  // Unit means 0.1 (equal to rho, no penalty) and 0.3.
  Case c{"reg.kl_sparsity", {{{2, 2}, {0.2f, 0.4f, 0.0f, 0.2f}}}, {0.1}};
  const double mean1 = (static_cast<double>(0.4f) + 0.2f) / 2;
  CHECK(c.value() == doctest::Approx(kl(0.1, (static_cast<double>(0.2f) + 0) / 2) + kl(0.1, mean1)));
  CHECK(c.value() == doctest::Approx(kl(0.1, 0.3)).epsilon(1e-6));
  // Gradient (-rho/rho_hat + (1-rho)/(1-rho_hat)) / N, the same for every sample of a unit.
  const std::vector<float> diff = c.gradient(1.0f)[0];
  const double unit1 = (-0.1 / 0.3 + 0.9 / 0.7) / 2;
  CHECK(diff[0] == doctest::Approx(0).epsilon(1e-6));
  CHECK(diff[1] == doctest::Approx(unit1).epsilon(1e-5));
  CHECK(diff[3] == doctest::Approx(unit1).epsilon(1e-5));

  Case dead{"reg.kl_sparsity", {{{3, 2}, {0, 1, 0, 1, 0, 1}}}, {0.05}};  // means 0 and 1, clamped
  CHECK(dead.value() == doctest::Approx(kl(0.05, 1e-6) + kl(0.05, 1 - 1e-6)));
  CHECK(std::isfinite(dead.value()));
  const std::vector<float> dead_diff = dead.gradient(1.0f)[0];
  for (float g : dead_diff) CHECK(std::isfinite(g));
}

TEST_CASE("l2: half the sum of squares over a whole parameter tensor of any rank, gradient w") {
  Case vector{"reg.l2", {{{3}, {1, -2, 3}}}, {}};
  CHECK(vector.value() == doctest::Approx(7.0));
  CHECK(vector.gradient(0.5f)[0] == std::vector<float>{0.5f, -1, 1.5f});
  Case scalar{"reg.l2", {{{}, {-4}}}, {}};
  CHECK(scalar.value() == doctest::Approx(8.0));
  Case matrix{"reg.l2", {{{2, 2}, {1, 1, 1, 1}}}, {}};  // unbatched: no division by dims[0]
  CHECK(matrix.value() == doctest::Approx(2.0));
}

TEST_CASE("contractive: mean over the batch of sum_j (h_j(1-h_j))^2 sum_i W_ji^2") {
  // Weights (H=2, D=2) with squared row norms 5 and 9.
  Case one{"reg.contractive", {{{1, 2}, {0.5f, 0.2f}}, {{2, 2}, {1, 2, 3, 0}}}, {}};
  const double h1 = 0.2f;
  const double expected = 0.0625 * 5 + (h1 * (1 - h1)) * (h1 * (1 - h1)) * 9;
  CHECK(one.value() == doctest::Approx(expected));
  Case two{"reg.contractive", {{{2, 2}, {0.5f, 0.2f, 0, 1}}, {{2, 2}, {1, 2, 3, 0}}}, {}};  // a saturated row
  CHECK(two.value() == doctest::Approx(expected / 2));
  // At h = 0.5 the slope h(1-h) is at its maximum, so d/dh is 0 there.
  CHECK(one.gradient(1.0f)[0][0] == doctest::Approx(0));
}

TEST_CASE("kl_normal: KL(N(mu, exp(logvar)) || N(0, I)) summed over features, mean over the batch") {
  // Sample 1 is N(0, 1) itself: no divergence. Sample 2: mu = (1, -2), logvar = (log 4, 0).
  const float log4 = std::log(4.0f);
  Case c{"reg.kl_normal", {{{2, 2}, {0, 0, 1, -2}}, {{2, 2}, {0, 0, log4, 0}}}, {}};
  const double sample2 = -0.5 * (1 + double(log4) - 1 - 4) + -0.5 * (1 + 0 - 4 - 1);
  CHECK(c.value() == doctest::Approx(sample2 / 2));
  const std::vector<std::vector<float>> diff = c.gradient(1.0f);
  CHECK(diff[0] == std::vector<float>{0, 0, 0.5f, -1});  // mu / N
  CHECK(diff[1][0] == doctest::Approx(0));               // 0.5 (exp(logvar) - 1) / N
  CHECK(diff[1][2] == doctest::Approx(0.5 * (4 - 1) / 2).epsilon(1e-6));
}

TEST_CASE("every regularizer's gradient matches central differences for every input") {
  check_gradient(
      {"reg.kl_normal", {{{3, 4}, uniform(12, -2, 2, 11)}, {{3, 4}, uniform(12, -1.5f, 1.5f, 12)}}, {}});
  check_gradient({"reg.l1", {{{3, 4}, away_from_zero(12, 1)}}, {}});
  check_gradient({"reg.l1", {{{2, 3, 2}, away_from_zero(12, 2)}}, {}});
  check_gradient({"reg.kl_sparsity", {{{4, 3}, uniform(12, 0.05f, 0.95f, 3)}}, {0.05}});
  check_gradient({"reg.kl_sparsity", {{{5, 4}, uniform(20, 0.05f, 0.6f, 4)}}, {0.3}});
  check_gradient({"reg.l2", {{{3, 4}, uniform(12, -2, 2, 5)}}, {}});
  check_gradient({"reg.l2", {{{2, 2, 3}, uniform(12, -2, 2, 6)}}, {}});
  check_gradient(
      {"reg.contractive", {{{3, 4}, uniform(12, 0.05f, 0.95f, 7)}, {{4, 5}, uniform(20, -1, 1, 8)}}, {}});
  check_gradient(
      {"reg.contractive", {{{5, 2}, uniform(10, 0.05f, 0.95f, 9)}, {{2, 3}, uniform(6, -2, 2, 10)}}, {}});
}

TEST_CASE("contractive fills only the gradient buffers it is given") {
  Case c{"reg.contractive", {{{3, 4}, uniform(12, 0.05f, 0.95f, 11)}, {{4, 5}, uniform(20, -1, 1, 12)}}, {}};
  const std::vector<std::vector<float>> both = c.gradient(1.0f);
  CHECK(c.gradient(1.0f, serial_host(), {true, false})[0] == both[0]);
  CHECK(c.gradient(1.0f, serial_host(), {false, true})[1] == both[1]);
  CHECK(c.gradient(1.0f, serial_host(), {false, true})[0] == std::vector<float>(12, 0.0f));
}

TEST_CASE("contractive reports code and weights that disagree on the number of units") {
  std::vector<float> code(2 * 500), weights(400 * 784);
  const std::vector<hg_tensor> inputs = {view(code, {2, 500}), view(weights, {400, 784})};
  try {
    call_term_value(builtin_term("reg.contractive"), make_call(inputs, {}), kNode);
    FAIL("expected hg::Error");
  } catch (const Error& e) {
    CHECK(
        std::string(e.what()) ==
        "reg.graph:7:9: error: term 'reg.contractive' (plugin " + std::string(HG_PLUGIN_DIR) +
            "/hg_regularizers.so) failed: code has 500 units but weights have 400 rows; weights must be the "
            "encoder's (H,D) = (units, input features)");
  }
  std::vector<float> flat(500);
  const std::vector<hg_tensor> unbatched = {view(flat, {500}), view(weights, {400, 784})};
  CHECK_THROWS_WITH_AS(call_term_value(builtin_term("reg.contractive"), make_call(unbatched, {}), kNode),
                       doctest::Contains("code must have shape (N,H), got rank 1"), Error);
}

TEST_CASE("values and gradients are bit-identical across repeated calls and threadings") {
  const int64_t rows = 300, units = 257, features = 129;  // several chunks, the last one partial
  std::vector<Case> cases = {
      {"reg.l1", {{{rows, units}, away_from_zero(rows * units, 13)}}, {}},
      {"reg.kl_sparsity", {{{rows, units}, uniform(rows * units, 0, 1, 14)}}, {0.05}},
      {"reg.l2", {{{units, features}, uniform(units * features, -1, 1, 15)}}, {}},
      {"reg.contractive",
       {{{rows, units}, uniform(rows * units, 0, 1, 16)},
        {{units, features}, uniform(units * features, -1, 1, 17)}},
       {}},
  };
  for (Case& c : cases) {
    CAPTURE(c.name);
    const double first = c.value();
    CHECK(first > 0);
    CHECK(c.value() == first);
    CHECK(c.value(threaded_host()) == first);
    CHECK(c.gradient(1.0f, threaded_host()) == c.gradient(1.0f));
  }
}
