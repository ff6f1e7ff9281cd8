// Helpers shared by the tests of the built-in terms (losses, regularizers, corruptions): the terms loaded
// once from the build tree, seeded random inputs, and central differences of a term's value checked
// against its gradient.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "plugin/registry.h"
#include "plugin/test_host.h"

namespace hg::test {

// The built-in term `name`; fails the test when no plugin in HG_PLUGIN_DIR provides it.
inline const TermRef& builtin_term(const char* name) {
  static PluginRegistry registry = [] {
    PluginRegistry r;
    r.load_folder(HG_PLUGIN_DIR);
    return r;
  }();
  const TermRef* term = registry.find(name);
  REQUIRE(term);
  return *term;
}

// n values drawn uniformly from [low, high), the same for the same seed.
inline std::vector<float> uniform(size_t n, float low, float high, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Central differences of value() in each element of `data`, using the perturbed floats actually stored.
template <class Value>
std::vector<double> numeric_gradient(std::vector<float>& data, Value&& value) {
  std::vector<double> gradient(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const float saved = data[i];
    const float plus = saved + 1e-3f, minus = saved - 1e-3f;
    data[i] = plus;
    const double up = value();
    data[i] = minus;
    const double down = value();
    data[i] = saved;
    gradient[i] = (up - down) / (static_cast<double>(plus) - minus);
  }
  return gradient;
}

// Whether analytic == scale * numeric elementwise. Tight enough that a gradient off by 1% (or a wrong sign,
// or a missing factor) fails.
inline bool gradients_match(const std::vector<float>& analytic, const std::vector<double>& numeric,
                            double scale) {
  for (size_t i = 0; i < analytic.size(); ++i) {
    const double expected = scale * numeric[i];
    if (std::fabs(analytic[i] - expected) > 1e-3 * std::fabs(expected) + 1e-6) return false;
  }
  return true;
}

// The analytic gradient of one input matches central differences, and the check itself rejects the same
// gradient 1% off.
inline void check_gradient_matches(const std::vector<float>& analytic, const std::vector<double>& numeric,
                                   double scale) {
  CHECK(gradients_match(analytic, numeric, scale));
  std::vector<float> wrong = analytic;
  for (float& g : wrong) g *= 1.01f;
  CHECK_FALSE(gradients_match(wrong, numeric, scale));
}

}  // namespace hg::test
