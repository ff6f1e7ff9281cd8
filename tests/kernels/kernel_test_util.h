// Helpers shared by the kernel tests: seeded random buffers, output buffers with a guard zone, the error of a
// kernel relative to its reference, and the finite-difference check of a reference gradient.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace hg::test {

// n values drawn uniformly from [low, high), the same for the same seed.
inline std::vector<float> random_vector(size_t n, uint32_t seed, float low = -1.f, float high = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng);
  return v;
}

// An output buffer of n random values with a guard zone after it, so a kernel writing past its shape is
// caught by guard_intact.
constexpr size_t kGuard = 16;
constexpr float kGuardValue = 12345.f;
inline std::vector<float> guarded_output(size_t n, uint32_t seed) {
  std::vector<float> v = random_vector(n + kGuard, seed);
  std::fill(v.end() - kGuard, v.end(), kGuardValue);
  return v;
}
inline bool guard_intact(const std::vector<float>& v) {
  return std::all_of(v.end() - kGuard, v.end(), [](float x) { return x == kGuardValue; });
}

// Largest difference over the first n values, relative to the reference's largest magnitude (at least 1).
inline double relative_error(const std::vector<float>& fast, const std::vector<float>& reference, size_t n) {
  double scale = 1.0, diff = 0.0;
  for (size_t i = 0; i < n; ++i) {
    scale = std::max(scale, double(std::fabs(reference[i])));
    diff = std::max(diff, double(std::fabs(fast[i] - reference[i])));
  }
  return diff / scale;
}

// sum(a * b) in double: the loss L = sum(g * dst) whose gradient check_gradient checks.
inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += double(a[i]) * b[i];
  return sum;
}

// Compares analytic[i] with the central difference of loss() in x[i], for every i. The step is large
// (1e-2) because the loss is computed from float kernels; a wrong gradient is off by far more. At most three
// failing elements are reported, then the count.
inline void check_gradient(const char* what, std::vector<float>& x, const std::vector<float>& analytic,
                           const std::function<double()>& loss) {
  CAPTURE(what);
  REQUIRE(x.size() == analytic.size());
  const float step = 1e-2f;
  int failures = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    const float plus = saved + step, minus = saved - step;
    x[i] = plus;
    const double loss_plus = loss();
    x[i] = minus;
    const double loss_minus = loss();
    x[i] = saved;
    const double numeric = (loss_plus - loss_minus) / (double(plus) - double(minus));
    const double tolerance = 1e-2 * std::max(std::fabs(numeric), std::fabs(double(analytic[i]))) + 1e-4;
    if (std::fabs(numeric - analytic[i]) > tolerance && ++failures <= 3) {
      CAPTURE(i);
      CAPTURE(numeric);
      CHECK(analytic[i] == doctest::Approx(numeric));
    }
  }
  CHECK(failures == 0);
}

}  // namespace hg::test
