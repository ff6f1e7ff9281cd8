// The built-in losses: values against hand-computed ones, gradients against central differences (for the
// prediction and the target), shape errors, and bit-identical values whatever the threading.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "plugin/term_test_util.h"

using namespace hg;
using namespace hg::test;

namespace {

const SourceLocation kNode{"loss.graph", 3, 1};

// A loss over prediction and target of shape dims, with its parameter values.
struct Case {
  const char* name;
  std::vector<int64_t> dims;
  std::vector<double> params;
  std::vector<float> prediction, target;

  hg_tensor tensor(std::vector<float>& data) const { return view(data, dims); }
  double value(const hg_host* host = serial_host()) {
    const std::vector<hg_tensor> inputs = {tensor(prediction), tensor(target)};
    return call_term_value(builtin_term(name), make_call(inputs, params, host), kNode);
  }
  // scale * d value / d (prediction, target), added into zeroed buffers.
  std::pair<std::vector<float>, std::vector<float>> gradient(float scale,
                                                             const hg_host* host = serial_host()) {
    std::vector<float> diff_prediction(prediction.size()), diff_target(target.size());
    const std::vector<hg_tensor> inputs = {tensor(prediction), tensor(target)};
    hg_tensor diffs[2] = {tensor(diff_prediction), tensor(diff_target)};
    call_term_gradient(builtin_term(name), make_call(inputs, params, host), scale, diffs, kNode);
    return {diff_prediction, diff_target};
  }
};

void check_gradient(Case c) {
  CAPTURE(c.name);
  const float scale = 0.75f;
  const auto [diff_prediction, diff_target] = c.gradient(scale);
  const auto value = [&c] { return c.value(); };
  check_gradient_matches(diff_prediction, numeric_gradient(c.prediction, value), scale);
  CHECK(gradients_match(diff_target, numeric_gradient(c.target, value), scale));
}

// Rows of a random distribution over `classes`.
std::vector<float> distributions(int64_t rows, int64_t classes, unsigned seed) {
  std::vector<float> v = uniform(rows * classes, 0.0f, 1.0f, seed);
  for (int64_t r = 0; r < rows; ++r) {
    float sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += v[r * classes + c];
    for (int64_t c = 0; c < classes; ++c) v[r * classes + c] /= sum;
  }
  return v;
}

}  // namespace

TEST_CASE("mse: mean of squared differences, or per-sample sums averaged over the batch") {
  Case c{"loss.mse", {2, 2}, {0}, {1, 2, 3, 4}, {0, 2, 1, 1}};  // squares 1, 0, 4, 9
  CHECK(c.value() == doctest::Approx(14.0 / 4));
  c.params = {1};
  CHECK(c.value() == doctest::Approx(14.0 / 2));
}

TEST_CASE("bce: -[t log p + (1-t) log(1-p)], finite for saturated predictions") {
  Case c{"loss.bce", {1, 2}, {0}, {0.5f, 0.9f}, {1, 0}};
  const double expected = -std::log(0.5) - std::log(1 - static_cast<double>(0.9f));
  CHECK(c.value() == doctest::Approx(expected / 2));
  c.params = {1};
  CHECK(c.value() == doctest::Approx(expected));
  Case saturated{"loss.bce", {1, 2}, {1}, {0, 1}, {1, 0}};  // both maximally wrong
  CHECK(saturated.value() == doctest::Approx(-2 * std::log(1e-7)).epsilon(1e-6));
}

TEST_CASE("bce over many pixels, binary and fractional targets, saturated and not, matches a double sum") {
  // Long enough for the eight-wide vector path and its scalar tail (1003 = 125 * 8 + 3), with blocks whose
  // targets are all 0 or 1 (one log) and blocks with fractional targets (two logs).
  const int64_t n = 1003;
  std::vector<float> p = uniform(n, 0.001f, 0.999f, 21), t(n);
  const std::vector<float> r = uniform(n, 0, 1, 22);
  for (int64_t i = 0; i < n; ++i) t[i] = i < 600 ? (r[i] < 0.5f ? 0.0f : 1.0f) : r[i];
  p[3] = 0;  // saturated: clamped to 1e-7 and 1 - 1e-7
  p[700] = 1;
  double expected = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double pc = std::max(static_cast<double>(p[i]), 1e-7),
                 q = std::max(1 - static_cast<double>(p[i]), 1e-7);
    expected -= t[i] * std::log(pc) + (1 - t[i]) * std::log(q);
  }
  Case c{"loss.bce", {17, 59}, {1}, p, t};
  CHECK(c.value() == doctest::Approx(expected / 17).epsilon(1e-6));
  c.params = {0};
  CHECK(c.value() == doctest::Approx(expected / n).epsilon(1e-6));
}

TEST_CASE("bce's prediction gradient is bit for bit the scalar formula, added into what the buffer held") {
  // The engine asks for one input's gradient at a time; with only the prediction's, the plugin takes its
  // four-wide double path, which must round exactly as the scalar (p - t) / (p (1 - p)) does.
  const int64_t n = 1003;
  std::vector<float> p = uniform(n, 0.0f, 1.0f, 31), t = uniform(n, 0, 1, 32);
  p[0] = 0, p[1] = 1, p[2] = 1e-9f, p[3] = 0.9999999f, t[4] = 0, t[5] = 1;
  std::vector<float> diff = uniform(n, -1, 1, 33), expected = diff;
  const float scale = 0.75f;
  const double factor = scale / static_cast<double>(n);  // sum = 0: the mean over every element
  for (int64_t i = 0; i < n; ++i) {
    const double pc = std::min(std::max(static_cast<double>(p[i]), 1e-7), 1 - 1e-7);
    expected[i] += static_cast<float>(factor * ((pc - t[i]) / (pc * (1 - pc))));
  }
  const std::vector<int64_t> dims = {17, 59};
  const std::vector<hg_tensor> inputs = {view(p, dims), view(t, dims)};
  hg_tensor diffs[2] = {view(diff, dims), hg_tensor{}};
  call_term_gradient(builtin_term("loss.bce"), make_call(inputs, {0}), scale, diffs, kNode);
  CHECK(std::memcmp(diff.data(), expected.data(), sizeof(float) * static_cast<size_t>(n)) == 0);
}

TEST_CASE("softmax_ce: mean over the batch of -sum t log softmax, stable for large logits") {
  Case c{"loss.softmax_ce", {2, 3}, {}, {1, 2, 3, 0, 0, 0}, {0, 0, 1, 1, 0, 0}};
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  const double row1 = std::log(3.0);
  CHECK(c.value() == doctest::Approx((row0 + row1) / 2));
  Case large{"loss.softmax_ce", {2, 2}, {}, {1000, 0, 0, 1000}, {1, 0, 1, 0}};
  CHECK(large.value() == doctest::Approx(500.0));  // rows: ~0 and 1000
}

TEST_CASE("every loss's gradient matches central differences, for the prediction and the target") {
  check_gradient({"loss.mse", {3, 4}, {0}, uniform(12, -1, 1, 1), uniform(12, -1, 1, 2)});
  check_gradient({"loss.mse", {3, 2, 2}, {1}, uniform(12, -1, 1, 3), uniform(12, -1, 1, 4)});
  check_gradient({"loss.bce", {3, 4}, {0}, uniform(12, 0.05f, 0.95f, 5), uniform(12, 0, 1, 6)});
  check_gradient({"loss.bce", {3, 4}, {1}, uniform(12, 0.05f, 0.95f, 7), uniform(12, 0, 1, 8)});
  check_gradient({"loss.softmax_ce", {3, 5}, {}, uniform(15, -3, 3, 9), distributions(3, 5, 10)});
  check_gradient({"loss.softmax_ce", {2, 3}, {}, uniform(6, -3, 3, 11), {0, 1, 0, 1, 0, 0}});
}

TEST_CASE("softmax_ce's logit gradient is (softmax - t) / N for a one-hot target") {
  Case c{"loss.softmax_ce", {2, 2}, {}, {0, 0, 0, std::log(3.0f)}, {1, 0, 0, 1}};
  const auto [diff_logits, diff_target] = c.gradient(1.0f);
  CHECK(diff_logits[0] == doctest::Approx((0.5 - 1) / 2));
  CHECK(diff_logits[1] == doctest::Approx(0.5 / 2));
  CHECK(diff_logits[2] == doctest::Approx(0.25 / 2));
  CHECK(diff_logits[3] == doctest::Approx((0.75 - 1) / 2));
}

TEST_CASE("mismatched shapes are reported at the node with both sizes") {
  std::vector<float> prediction(2 * 784), target(2 * 10);
  const std::vector<hg_tensor> inputs = {view(prediction, {2, 784}), view(target, {2, 10})};
  const std::vector<double> params = {0};
  try {
    call_term_value(builtin_term("loss.mse"), make_call(inputs, params), kNode);
    FAIL("expected hg::Error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "loss.graph:3:1: error: term 'loss.mse' (plugin " + builtin_losses() +
                                       ") failed: prediction has 784 elements per sample, target has 10");
  }
  std::vector<float> logits(2 * 2 * 5), labels(2 * 2 * 5);
  const std::vector<hg_tensor> ranked = {view(logits, {2, 2, 5}), view(labels, {2, 2, 5})};
  CHECK_THROWS_WITH_AS(call_term_value(builtin_term("loss.softmax_ce"), make_call(ranked, {}), kNode),
                       doctest::Contains("logits must have shape (N,C), got rank 3"), Error);
}

TEST_CASE("values and gradients are bit-identical across repeated calls and threadings") {
  const size_t n = 3 * 16384 + 77;  // several chunks, the last one partial
  for (const char* name : {"loss.mse", "loss.bce"}) {
    CAPTURE(name);
    Case c{name, {static_cast<int64_t>(n) / 7, 7}, {0}, uniform(n, 0.01f, 0.99f, 12), uniform(n, 0, 1, 13)};
    const double first = c.value();
    CHECK(c.value() == first);
    CHECK(c.value(threaded_host()) == first);
    CHECK(c.gradient(1.0f, threaded_host()) == c.gradient(1.0f));
  }
  Case c{"loss.softmax_ce", {4096, 10}, {}, uniform(40960, -4, 4, 14), distributions(4096, 10, 15)};
  const double first = c.value();
  CHECK(c.value() == first);
  CHECK(c.value(threaded_host()) == first);
  CHECK(c.gradient(1.0f, threaded_host()) == c.gradient(1.0f));
}
