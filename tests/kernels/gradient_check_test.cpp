// Finite-difference checks of the reference kernels' gradients, which the oneDNN kernels are compared
// against. With L = sum(g * dst) for a random g, dL/dx from the backward kernels must match central
// differences (L+ - L-) / (x+ - x-), L summed in double.
#include <doctest/doctest.h>

#include <vector>

#include "kernels/activation.h"
#include "kernels/dense.h"
#include "kernels/kernel_test_util.h"

using namespace hg;
using namespace hg::test;

TEST_CASE("dense reference gradients match finite differences") {
  for (bool transposed : {false, true}) {
    CAPTURE(transposed);
    const DenseShape s{3, 4, 5, transposed, true};
    const size_t N = s.batch, K = s.in, M = s.out;
    std::vector<float> src = random_vector(N * K, 1), weights = random_vector(M * K, 2),
                       bias = random_vector(M, 3);
    const std::vector<float> g = random_vector(N * M, 4);
    std::vector<float> dst(N * M);
    auto loss = [&] {
      reference::dense_forward(s, src.data(), weights.data(), bias.data(), dst.data());
      return dot(g, dst);
    };

    std::vector<float> diff_src(N * K), diff_weights(M * K), diff_bias(M);
    reference::dense_backward_data(s, g.data(), weights.data(), diff_src.data());
    reference::dense_backward_weights(s, g.data(), src.data(), diff_weights.data(), false);
    reference::dense_backward_bias(s, g.data(), diff_bias.data(), false);
    check_gradient("diff_src", src, diff_src, loss);
    check_gradient("diff_weights", weights, diff_weights, loss);
    check_gradient("diff_bias", bias, diff_bias, loss);
  }
}

TEST_CASE("dense reference accumulation adds the gradient to what was there") {
  const DenseShape s{3, 4, 5, true, true};
  const std::vector<float> src = random_vector(12, 5), g = random_vector(15, 6);
  const std::vector<float> before_w = random_vector(20, 7), before_b = random_vector(5, 8);
  std::vector<float> fresh_w(20), fresh_b(5), acc_w(before_w), acc_b(before_b);
  reference::dense_backward_weights(s, g.data(), src.data(), fresh_w.data(), false);
  reference::dense_backward_weights(s, g.data(), src.data(), acc_w.data(), true);
  reference::dense_backward_bias(s, g.data(), fresh_b.data(), false);
  reference::dense_backward_bias(s, g.data(), acc_b.data(), true);
  for (size_t i = 0; i < 20; ++i) CHECK(acc_w[i] == doctest::Approx(before_w[i] + fresh_w[i]));
  for (size_t i = 0; i < 5; ++i) CHECK(acc_b[i] == doctest::Approx(before_b[i] + fresh_b[i]));
}

TEST_CASE("activation reference gradients match finite differences") {
  for (Activation a :
       {Activation::Linear, Activation::Relu, Activation::Sigmoid, Activation::Tanh, Activation::Softmax}) {
    CAPTURE(activation_name(a));
    const int64_t rows = 3, cols = 6;
    std::vector<float> src = random_vector(rows * cols, 9, 0.1f, 2.5f);
    // Random signs, but keep |x| >= 0.1 so relu's kink is never within a step.
    const std::vector<float> signs = random_vector(rows * cols, 10);
    for (size_t i = 0; i < src.size(); ++i) src[i] = signs[i] < 0 ? -src[i] : src[i];
    const std::vector<float> g = random_vector(rows * cols, 11);
    std::vector<float> dst(src.size());
    auto loss = [&] {
      reference::activation_forward(a, rows, cols, src.data(), dst.data());
      return dot(g, dst);
    };
    loss();  // dst for the backward
    std::vector<float> diff_src(src.size());
    reference::activation_backward(a, rows, cols, g.data(), dst.data(), diff_src.data());
    check_gradient("diff_src", src, diff_src, loss);
  }
}
