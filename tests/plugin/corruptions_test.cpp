// The built-in corruptions: identity in evaluation, the statistics of each noise on 100k elements,
// reproducibility from the seed alone (same seed same output, any threading), and apply_gradient against
// finite differences of apply under the same seed.
#include <doctest/doctest.h>

#include <cmath>

#include "plugin/term_test_util.h"

using namespace hg;
using namespace hg::test;

namespace {

const SourceLocation kNode{"dae.graph", 4, 10};
const char* const kAll[] = {"corrupt.masking", "corrupt.gaussian", "corrupt.salt_pepper", "corrupt.dropout"};

// A corruption with its parameter, applied to `src` viewed as (N, 7) (or flat when not a multiple of 7).
struct Case {
  const char* name;
  double param;
  std::vector<float> src;
  uint64_t seed = 42;
  int training = 1;

  hg_tensor tensor(std::vector<float>& data) const {
    return data.size() % 7 == 0 ? view(data, {static_cast<int64_t>(data.size()) / 7, 7})
                                : view(data, {static_cast<int64_t>(data.size())});
  }
  hg_term_call call(const std::vector<hg_tensor>& inputs, const std::vector<double>& params,
                    const hg_host* host) const {
    hg_term_call c = make_call(inputs, params, host);
    c.seed = seed;
    c.training = training;
    return c;
  }
  std::vector<float> apply(const hg_host* host = serial_host()) {
    std::vector<float> dst(src.size(), -7.0f);
    const std::vector<hg_tensor> inputs = {tensor(src)};
    const std::vector<double> params = {param};
    hg_tensor out = tensor(dst);
    call_term_apply(builtin_term(name), call(inputs, params, host), &out, kNode);
    return dst;
  }
  // diff_input = d corrupt / d src * diff_dst, into a zeroed buffer as the engine does.
  std::vector<float> apply_gradient(std::vector<float> diff_dst, const hg_host* host = serial_host()) {
    std::vector<float> diff_input(src.size(), 0.0f);
    const std::vector<hg_tensor> inputs = {tensor(src)};
    const std::vector<double> params = {param};
    const hg_tensor diff = tensor(diff_dst);
    hg_tensor out = tensor(diff_input);
    call_term_apply_gradient(builtin_term(name), call(inputs, params, host), &diff, &out, kNode);
    return diff_input;
  }
};

// Default parameters, on non-zero inputs that are never 0 or 1.
Case default_case(const char* name, size_t n, unsigned seed) {
  const double param = std::string(name) == "corrupt.masking"    ? 0.3
                       : std::string(name) == "corrupt.gaussian" ? 0.1
                       : std::string(name) == "corrupt.dropout"  ? 0.5
                                                                 : 0.1;
  return {name, param, uniform(n, 0.1f, 0.9f, seed)};
}

// True when `fraction` of `n` trials lies within 5 standard deviations of probability p.
bool near_probability(double fraction, double p, size_t n) {
  return std::fabs(fraction - p) <= 5 * std::sqrt(p * (1 - p) / static_cast<double>(n));
}

constexpr size_t kMany = 100000;

}  // namespace

TEST_CASE("in evaluation every corruption is the identity and passes the gradient through") {
  for (const char* name : kAll) {
    CAPTURE(name);
    Case c = default_case(name, 1000, 1);
    const std::vector<float> diff = uniform(1000, -1, 1, 2);
    c.training = 0;
    CHECK(c.apply() == c.src);
    CHECK(c.apply_gradient(diff) == diff);
    c.training = 1;  // and the same case does corrupt while training (gaussian's gradient is always 1)
    CHECK(c.apply() != c.src);
    if (std::string(name) != "corrupt.gaussian") CHECK(c.apply_gradient(diff) != diff);
  }
}

TEST_CASE("masking zeroes about rate of the elements, without rescaling the kept ones") {
  for (double rate : {0.3, 0.05, 0.9}) {
    CAPTURE(rate);
    Case c{"corrupt.masking", rate, uniform(kMany, 0.5f, 1.5f, 3)};
    const std::vector<float> dst = c.apply();
    size_t zeroed = 0, changed = 0;
    for (size_t i = 0; i < kMany; ++i) {
      if (dst[i] == 0)
        ++zeroed;
      else if (dst[i] != c.src[i])
        ++changed;
    }
    CHECK(near_probability(static_cast<double>(zeroed) / kMany, rate, kMany));
    CHECK(changed == 0);
  }
  Case none{"corrupt.masking", 0, uniform(1000, 0.5f, 1.5f, 4)};
  CHECK(none.apply() == none.src);
  Case all{"corrupt.masking", 1, uniform(1000, 0.5f, 1.5f, 5)};
  CHECK(all.apply() == std::vector<float>(1000, 0.0f));
}

TEST_CASE("dropout zeroes about rate of the elements and scales the rest by 1/(1-rate), keeping the mean") {
  for (double rate : {0.5, 0.2}) {
    CAPTURE(rate);
    Case c{"corrupt.dropout", rate, std::vector<float>(kMany, 1.0f)};
    const std::vector<float> dst = c.apply();
    const float kept = static_cast<float>(1 / (1 - rate));
    size_t dropped = 0, other = 0;
    double sum = 0;
    for (float x : dst) {
      sum += x;
      if (x == 0)
        ++dropped;
      else if (x != kept)
        ++other;
    }
    CHECK(other == 0);
    CHECK(near_probability(static_cast<double>(dropped) / kMany, rate, kMany));
    // The mean of src is 1; dst's mean has standard deviation sqrt(rate/(1-rate)/n).
    CHECK(std::fabs(sum / kMany - 1) <= 5 * std::sqrt(rate / (1 - rate) / kMany));
  }
  Case values{"corrupt.dropout", 0.25, uniform(1000, -2, 2, 6)};
  const std::vector<float> dst = values.apply();
  for (size_t i = 0; i < dst.size(); ++i)
    if (dst[i] != 0) CHECK(dst[i] == doctest::Approx(values.src[i] / 0.75).epsilon(1e-6));
}

TEST_CASE("gaussian adds zero-mean noise with standard deviation sigma") {
  for (double sigma : {0.1, 2.0}) {
    CAPTURE(sigma);
    Case c{"corrupt.gaussian", sigma, uniform(kMany, -1, 1, 7)};
    const std::vector<float> dst = c.apply();
    double sum = 0, sum_squares = 0, beyond_3_sigma = 0;
    for (size_t i = 0; i < kMany; ++i) {
      const double noise = static_cast<double>(dst[i]) - c.src[i];
      sum += noise;
      sum_squares += noise * noise;
      if (std::fabs(noise) > 3 * sigma) ++beyond_3_sigma;
    }
    const double mean = sum / kMany, deviation = std::sqrt(sum_squares / kMany - mean * mean);
    CHECK(std::fabs(mean) <= 5 * sigma / std::sqrt(kMany));
    CHECK(std::fabs(deviation / sigma - 1) < 0.015);  // the estimate's relative deviation is 1/sqrt(2n)
    CHECK(near_probability(beyond_3_sigma / kMany, 0.0027, kMany));  // normal tails, not uniform ones
  }
}

TEST_CASE("salt_pepper sets about rate of the elements to 0 or 1, half each, and leaves the rest") {
  Case c{"corrupt.salt_pepper", 0.2, uniform(kMany, 0.1f, 0.9f, 8)};
  const std::vector<float> dst = c.apply();
  const std::vector<float> diff = c.apply_gradient(std::vector<float>(kMany, 1.0f));
  size_t zeros = 0, ones = 0, other = 0, wrong_gradient = 0;
  for (size_t i = 0; i < kMany; ++i) {
    const bool untouched = dst[i] == c.src[i];
    if (dst[i] == 0)
      ++zeros;
    else if (dst[i] == 1)
      ++ones;
    else if (!untouched)
      ++other;
    if (diff[i] != (untouched ? 1.0f : 0.0f)) ++wrong_gradient;
  }
  CHECK(other == 0);
  CHECK(wrong_gradient == 0);
  CHECK(near_probability(static_cast<double>(zeros) / kMany, 0.1, kMany));
  CHECK(near_probability(static_cast<double>(ones) / kMany, 0.1, kMany));
}

TEST_CASE("the seed alone decides the noise: same seed same output, different seed different output") {
  for (const char* name : kAll) {
    CAPTURE(name);
    Case c = default_case(name, 5000, 9);
    const std::vector<float> first = c.apply();
    CHECK(c.apply() == first);
    c.seed = 43;
    const std::vector<float> other = c.apply();
    CHECK(other != first);
    size_t same = 0;
    for (size_t i = 0; i < first.size(); ++i) same += first[i] == other[i];
    CHECK(same < 0.9 * first.size());  // not a shifted or mostly shared stream
  }
}

TEST_CASE("output and gradient are bit-identical for a serial and a 3-thread host") {
  const size_t n = 3 * 16384 + 77;  // several chunks, the last one partial
  for (const char* name : kAll) {
    CAPTURE(name);
    Case c = default_case(name, n, 10);
    const std::vector<float> diff = uniform(n, -1, 1, 11);
    CHECK(c.apply(threaded_host()) == c.apply());
    CHECK(c.apply_gradient(diff, threaded_host()) == c.apply_gradient(diff));
  }
}

TEST_CASE("apply_gradient is the vector-Jacobian product of apply under the same seed") {
  const size_t n = 70;
  for (const char* name : kAll) {
    CAPTURE(name);
    Case c = default_case(name, n, 12);
    const std::vector<float> diff_dst = uniform(n, -1, 1, 13);
    const std::vector<float> analytic = c.apply_gradient(diff_dst);
    // d/dsrc_i of sum_k diff_dst_k dst_k by central differences, perturbing one element at a time.
    std::vector<double> numeric(n);
    for (size_t i = 0; i < n; ++i) {
      const float saved = c.src[i];
      const float plus = saved + 1e-2f, minus = saved - 1e-2f;
      c.src[i] = plus;
      const std::vector<float> up = c.apply();
      c.src[i] = minus;
      const std::vector<float> down = c.apply();
      c.src[i] = saved;
      double change = 0;
      for (size_t k = 0; k < n; ++k) change += diff_dst[k] * (static_cast<double>(up[k]) - down[k]);
      numeric[i] = change / (static_cast<double>(plus) - minus);
    }
    size_t mismatches = 0, zeros = 0;
    for (size_t i = 0; i < n; ++i) {
      if (std::fabs(analytic[i] - numeric[i]) > 1e-4 * std::fabs(numeric[i]) + 1e-4) ++mismatches;
      zeros += analytic[i] == 0;
    }
    CHECK(mismatches == 0);
    // Masking, salt_pepper and dropout block some elements; gaussian passes everything.
    if (std::string(name) == "corrupt.gaussian")
      CHECK(zeros == 0);
    else
      CHECK(zeros > 0);
  }
}

TEST_CASE("a gradient buffer of the wrong size is reported at the node") {
  std::vector<float> src(10), diff_dst(10), diff_input(9);
  const std::vector<hg_tensor> inputs = {view(src, {2, 5})};
  const std::vector<double> params = {0.3};
  const hg_tensor diff = view(diff_dst, {2, 5});
  hg_tensor out = view(diff_input, {9});
  const std::string expected = "dae.graph:4:10: error: term 'corrupt.masking' (plugin " +
                               std::string(HG_PLUGIN_DIR) +
                               "/hg_corruptions.so) failed: diff_input has 9 elements, the input has 10";
  CHECK_THROWS_WITH_AS(call_term_apply_gradient(builtin_term("corrupt.masking"), make_call(inputs, params),
                                                &diff, &out, kNode),
                       expected.c_str(), Error);
}
