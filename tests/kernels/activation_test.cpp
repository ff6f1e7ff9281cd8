// Activation kernels (oneDNN eltwise and softmax) against the reference loops for a table of shapes, in
// and out of place, with leaky_relu's and elu's alpha; determinism; and the name table.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/activation.h"
#include "kernels/kernel_test_util.h"

using namespace hg;
using namespace hg::test;

namespace {

// Elementwise relative check; the absolute floor covers values that should be (near) zero.
bool close(const std::vector<float>& fast, const std::vector<float>& reference) {
  for (size_t i = 0; i < reference.size(); ++i)
    if (!(std::fabs(fast[i] - reference[i]) <= 1e-4 * std::fabs(reference[i]) + 1e-6)) return false;
  return true;
}

const Activation kAll[] = {Activation::Linear,  Activation::Relu,      Activation::Sigmoid, Activation::Tanh,
                           Activation::Softmax, Activation::LeakyRelu, Activation::Elu,     Activation::Gelu,
                           Activation::Silu,    Activation::Softplus};

// An alpha that is not the default, so that passing it through is tested; 0 where the kind has none.
float alpha_of(Activation a) {
  return a == Activation::LeakyRelu ? 0.2f : a == Activation::Elu ? 0.7f : 0.f;
}
const std::pair<int64_t, int64_t> kShapes[] = {{1, 1}, {1, 7}, {3, 7}, {7, 3}, {128, 784}, {5, 1000}};

}  // namespace

TEST_CASE("activation names parse and print") {
  for (Activation a : kAll) {
    Activation parsed = Activation::Linear;
    CHECK(parse_activation(activation_name(a), &parsed));
    CHECK(parsed == a);
  }
  CHECK(std::string(activation_name(Activation::Sigmoid)) == "sigmoid");
  Activation untouched = Activation::Tanh;
  CHECK_FALSE(parse_activation("sigmod", &untouched));
  CHECK_FALSE(parse_activation("ReLU", &untouched));
  CHECK(untouched == Activation::Tanh);
}

TEST_CASE("activation forward and backward match the reference") {
  for (Activation a : kAll)
    for (const auto& shape : kShapes) {  // not a structured binding: CAPTURE's lambda names them
      const auto rows = shape.first, cols = shape.second;
      CAPTURE(activation_name(a));
      CAPTURE(rows);
      CAPTURE(cols);
      const size_t n = rows * cols;
      ActivationKernels kernels(a, rows, cols, alpha_of(a));
      const std::vector<float> src = random_vector(n, 1, -4.f, 4.f), diff_dst = random_vector(n, 2);

      std::vector<float> dst(n), expected(n);
      kernels.forward(src.data(), dst.data());
      reference::activation_forward(a, rows, cols, src.data(), expected.data(), alpha_of(a));
      CHECK(close(dst, expected));

      // Backward from the reference dst, so only the backward kernels are compared here.
      std::vector<float> diff_src(n), expected_diff_src(n);
      kernels.backward(diff_dst.data(), expected.data(), diff_src.data(), src.data());
      reference::activation_backward(a, rows, cols, diff_dst.data(), expected.data(),
                                     expected_diff_src.data(), alpha_of(a), src.data());
      CHECK(close(diff_src, expected_diff_src));
    }
}

TEST_CASE("activation kernels work in place") {
  for (Activation a : kAll) {
    CAPTURE(activation_name(a));
    const int64_t rows = 9, cols = 31;
    const size_t n = rows * cols;
    ActivationKernels kernels(a, rows, cols, alpha_of(a));
    const std::vector<float> src = random_vector(n, 3, -4.f, 4.f), diff_dst = random_vector(n, 4);
    std::vector<float> dst(n), data(src);
    kernels.forward(src.data(), dst.data());
    kernels.forward(data.data(), data.data());
    CHECK(data == dst);

    std::vector<float> diff_src(n), diff(diff_dst);
    kernels.backward(diff_dst.data(), dst.data(), diff_src.data(), src.data());
    kernels.backward(diff.data(), dst.data(), diff.data(), src.data());
    CHECK(diff == diff_src);
  }
}

TEST_CASE("activation kernels give bit-identical results on repeated calls") {
  for (Activation a : kAll) {
    CAPTURE(activation_name(a));
    ActivationKernels kernels(a, 128, 784, alpha_of(a));
    const std::vector<float> src = random_vector(128 * 784, 5, -4.f, 4.f);
    std::vector<float> first(src.size()), second(src.size());
    kernels.forward(src.data(), first.data());
    kernels.forward(src.data(), second.data());
    CHECK(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("softmax normalizes each row") {
  ActivationKernels kernels(Activation::Softmax, 4, 10);
  const std::vector<float> src = random_vector(40, 6, -10.f, 10.f);
  std::vector<float> dst(40);
  kernels.forward(src.data(), dst.data());
  for (int r = 0; r < 4; ++r) {
    double sum = 0;
    for (int j = 0; j < 10; ++j) sum += dst[r * 10 + j];
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("activation kernels refuse an empty shape and name it") {
  CHECK_THROWS_WITH_AS(ActivationKernels(Activation::Relu, 0, 10), "relu: invalid shape (0,10)",
                       std::runtime_error);
}

TEST_CASE("the new activations have the values their definitions give at a few points") {
  const std::vector<float> src = {-2.f, -0.5f, 0.5f, 3.f};
  auto run = [&](Activation a, float alpha) {
    ActivationKernels kernels(a, 1, 4, alpha);
    std::vector<float> dst(4);
    kernels.forward(src.data(), dst.data());
    return dst;
  };
  const std::vector<float> leaky = run(Activation::LeakyRelu, 0.1f), elu = run(Activation::Elu, 1.f),
                           gelu = run(Activation::Gelu, 0), silu = run(Activation::Silu, 0),
                           softplus = run(Activation::Softplus, 0);
  CHECK(leaky[0] == doctest::Approx(-0.2));
  CHECK(leaky[3] == doctest::Approx(3));
  CHECK(elu[0] == doctest::Approx(std::expm1(-2.0)));
  CHECK(gelu[2] == doctest::Approx(0.345731).epsilon(1e-4));  // 0.5 * Phi(0.5)
  CHECK(silu[3] == doctest::Approx(3 / (1 + std::exp(-3.0))));
  CHECK(softplus[1] == doctest::Approx(std::log1p(std::exp(-0.5))));
}

TEST_CASE("activation kernels refuse a negative alpha, and an src-reading backward without src") {
  CHECK_THROWS_WITH_AS(ActivationKernels(Activation::LeakyRelu, 2, 2, -0.1f),
                       "leaky_relu: alpha must be at least 0, got -0.100000", std::runtime_error);
  ActivationKernels gelu(Activation::Gelu, 1, 4);
  std::vector<float> buffer(4, 0.5f);
  CHECK_THROWS_AS(gelu.backward(buffer.data(), buffer.data(), buffer.data()), std::logic_error);
}
