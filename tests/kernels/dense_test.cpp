// The dense op's oneDNN kernels against the reference loops, for a table of shapes, both weight layouts,
// with and without bias and accumulation; plus determinism, error messages and a throughput benchmark.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/dense.h"
#include "kernels/kernel_test_util.h"
#include "kernels/threading.h"
#include "test_skip.h"

using namespace hg;
using namespace hg::test;

namespace {

constexpr double kTolerance = 1e-4;

struct Sizes {
  int64_t batch, in, out;
};
const Sizes kShapes[] = {{1, 1, 1},    {1, 7, 5},     {3, 7, 5},      {2, 3, 1},     {5, 1, 9},
                         {17, 33, 65}, {64, 100, 10}, {128, 784, 32}, {32, 500, 784}};

std::vector<DenseShape> all_variants(const Sizes& sizes) {
  std::vector<DenseShape> shapes;
  for (bool transposed : {false, true})
    for (bool bias : {true, false}) shapes.push_back({sizes.batch, sizes.in, sizes.out, transposed, bias});
  return shapes;
}

#define CAPTURE_SHAPE(s)           \
  CAPTURE((s).batch);              \
  CAPTURE((s).in);                 \
  CAPTURE((s).out);                \
  CAPTURE((s).transposed_weights); \
  CAPTURE((s).has_bias)

}  // namespace

TEST_CASE("dense forward and backward data match the reference") {
  for (const Sizes& sizes : kShapes)
    for (const DenseShape& s : all_variants(sizes)) {
      CAPTURE_SHAPE(s);
      const size_t N = s.batch, K = s.in, M = s.out;
      DenseKernels kernels(s);
      const std::vector<float> src = random_vector(N * K, 1), weights = random_vector(M * K, 2),
                               bias = random_vector(M, 3), diff_dst = random_vector(N * M, 4);

      std::vector<float> dst = guarded_output(N * M, 5), expected(N * M);
      kernels.forward(src.data(), weights.data(), bias.data(), dst.data());
      reference::dense_forward(s, src.data(), weights.data(), bias.data(), expected.data());
      CHECK(relative_error(dst, expected, N * M) < kTolerance);
      CHECK(guard_intact(dst));

      std::vector<float> diff_src = guarded_output(N * K, 6), expected_diff_src(N * K);
      kernels.backward_data(diff_dst.data(), weights.data(), diff_src.data());
      reference::dense_backward_data(s, diff_dst.data(), weights.data(), expected_diff_src.data());
      CHECK(relative_error(diff_src, expected_diff_src, N * K) < kTolerance);
      CHECK(guard_intact(diff_src));
    }
}

TEST_CASE("dense forward with a fused activation matches the reference") {
  const std::pair<Activation, float> fusable[] = {{Activation::Relu, 0.f}, {Activation::Sigmoid, 0.f},
                                                  {Activation::Tanh, 0.f}, {Activation::LeakyRelu, 0.2f},
                                                  {Activation::Elu, 0.7f}, {Activation::Gelu, 0.f},
                                                  {Activation::Silu, 0.f}, {Activation::Softplus, 0.f}};
  for (auto [activation, alpha] : fusable)
    for (const Sizes& sizes : kShapes)
      for (DenseShape s : all_variants(sizes)) {
        s.fused_activation = activation;
        s.activation_alpha = alpha;
        CAPTURE_SHAPE(s);
        CAPTURE(activation_name(activation));
        const size_t N = s.batch, K = s.in, M = s.out;
        DenseKernels kernels(s);
        const std::vector<float> src = random_vector(N * K, 21), weights = random_vector(M * K, 22),
                                 bias = random_vector(M, 23);
        std::vector<float> dst = guarded_output(N * M, 24), expected(N * M);
        kernels.forward(src.data(), weights.data(), bias.data(), dst.data());
        reference::dense_forward(s, src.data(), weights.data(), bias.data(), expected.data());
        CHECK(relative_error(dst, expected, N * M) < kTolerance);
        CHECK(guard_intact(dst));
      }
}

TEST_CASE("dense backward weights and bias match the reference, overwriting or accumulating") {
  for (const Sizes& sizes : kShapes)
    for (const DenseShape& s : all_variants(sizes))
      for (bool accumulate : {false, true}) {
        CAPTURE_SHAPE(s);
        CAPTURE(accumulate);
        const size_t N = s.batch, K = s.in, M = s.out;
        DenseKernels kernels(s);
        const std::vector<float> src = random_vector(N * K, 11), diff_dst = random_vector(N * M, 12);

        // Both start from the same non-zero contents, so overwrite and accumulate differ.
        std::vector<float> diff_weights = guarded_output(M * K, 13), expected_weights(diff_weights);
        kernels.backward_weights(diff_dst.data(), src.data(), diff_weights.data(), accumulate);
        reference::dense_backward_weights(s, diff_dst.data(), src.data(), expected_weights.data(),
                                          accumulate);
        CHECK(relative_error(diff_weights, expected_weights, M * K) < kTolerance);
        CHECK(guard_intact(diff_weights));

        std::vector<float> diff_bias = guarded_output(M, 14), expected_bias(diff_bias);
        kernels.backward_bias(diff_dst.data(), diff_bias.data(), accumulate);
        reference::dense_backward_bias(s, diff_dst.data(), expected_bias.data(), accumulate);
        CHECK(relative_error(diff_bias, expected_bias, M) < kTolerance);
        CHECK(guard_intact(diff_bias));
      }
}

TEST_CASE("dense reference kernels on a hand-computed example") {
  // weights (M,K) = [[1, 2], [3, 4], [5, 6]]; its (K,M) storage is the transpose.
  const std::vector<float> weights = {1, 2, 3, 4, 5, 6}, weights_km = {1, 3, 5, 2, 4, 6};
  const std::vector<float> src = {1, -1}, bias = {0.5f, 0, -0.5f}, diff_dst = {1, 0, 2};
  for (bool transposed : {false, true}) {
    const DenseShape s{1, 2, 3, transposed, true};
    const std::vector<float>& w = transposed ? weights_km : weights;
    std::vector<float> dst(3), diff_src(2), diff_weights(6), diff_bias(3);
    reference::dense_forward(s, src.data(), w.data(), bias.data(), dst.data());
    CHECK(dst == std::vector<float>{-0.5f, -1, -1.5f});
    reference::dense_backward_data(s, diff_dst.data(), w.data(), diff_src.data());
    CHECK(diff_src == std::vector<float>{11, 14});
    reference::dense_backward_weights(s, diff_dst.data(), src.data(), diff_weights.data(), false);
    const std::vector<float> expected_mk = {1, -1, 0, 0, 2, -2}, expected_km = {1, 0, 2, -1, 0, -2};
    CHECK(diff_weights == (transposed ? expected_km : expected_mk));
    reference::dense_backward_bias(s, diff_dst.data(), diff_bias.data(), false);
    CHECK(diff_bias == diff_dst);
  }
}

TEST_CASE("dense kernels give bit-identical results on repeated calls") {
  for (bool transposed : {false, true}) {
    const DenseShape s{128, 784, 32, transposed, true};
    DenseKernels kernels(s);
    const std::vector<float> src = random_vector(128 * 784, 21), weights = random_vector(784 * 32, 22),
                             bias = random_vector(32, 23), diff_dst = random_vector(128 * 32, 24);
    std::vector<float> first(128 * 32), second(128 * 32);
    kernels.forward(src.data(), weights.data(), bias.data(), first.data());
    kernels.forward(src.data(), weights.data(), bias.data(), second.data());
    CHECK(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)) == 0);

    std::vector<float> grad_a(784 * 32), grad_b(784 * 32);
    kernels.backward_weights(diff_dst.data(), src.data(), grad_a.data(), false);
    kernels.backward_weights(diff_dst.data(), src.data(), grad_b.data(), false);
    CHECK(std::memcmp(grad_a.data(), grad_b.data(), grad_a.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("dense kernels refuse an empty shape and name it") {
  CHECK_THROWS_WITH_AS(DenseKernels(DenseShape{0, 784, 500, true, true}),
                       "dense: invalid shape (N=0, K=784, M=500, weights stored (K,M), with bias)",
                       std::runtime_error);
}

TEST_CASE("dense forward throughput, 128x784x1000 on 2 threads" * doctest::skip()) {
  set_math_threads(2);
  const DenseShape s{128, 784, 1000, false, true};
  DenseKernels kernels(s);
  const std::vector<float> src = random_vector(128 * 784, 1), weights = random_vector(1000 * 784, 2),
                           bias = random_vector(1000, 3);
  std::vector<float> dst(128 * 1000);
  for (int i = 0; i < 20; ++i) kernels.forward(src.data(), weights.data(), bias.data(), dst.data());
  const int calls = 200;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) kernels.forward(src.data(), weights.data(), bias.data(), dst.data());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("dense forward 128x784x1000: %.1f GFLOP/s\n", 2.0 * 128 * 784 * 1000 * calls / seconds / 1e9);
}

TEST_CASE("bf16 rounding is to nearest even, and the bf16 reference multiplies rounded operands") {
  CHECK(to_bf16(1.0f) == 0x3f80);
  CHECK(round_to_bf16(1.0f + 0x1p-8f) == 1.0f);                       // halfway: to the even neighbour below
  CHECK(round_to_bf16(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);         // halfway: to the even neighbour above
  CHECK(round_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);  // above halfway
  CHECK(round_to_bf16(-3.0f) == -3.0f);
  CHECK(std::isinf(round_to_bf16(INFINITY)));
  CHECK(std::isnan(round_to_bf16(NAN)));
  CHECK(round_to_bf16(3.4e38f) == INFINITY);  // past bf16's largest finite value
  // One output: 1.00390625 * 1.00390625 in f32, but 1 * 1 once each operand is rounded to bf16's 8 bits.
  DenseShape s{1, 1, 1, false, false};
  const float x = 1.0f + 0x1p-8f, w = 1.0f + 0x1p-8f;
  float y = 0;
  reference::dense_forward(s, &x, &w, nullptr, &y);
  CHECK(y == doctest::Approx(double(x) * w).epsilon(1e-7));
  s.bf16 = true;
  reference::dense_forward(s, &x, &w, nullptr, &y);
  CHECK(y == 1.0f);
}

TEST_CASE("bf16 dense kernels match the reference on bf16-rounded operands") {
  if (const std::string missing = bf16_unavailable(); !missing.empty()) {
    skip_test("no native bf16 kernels: " + missing);
    return;
  }
  for (const Sizes& sizes : kShapes)
    for (DenseShape s : all_variants(sizes)) {
      s.bf16 = true;
      s.fused_activation = Activation::Sigmoid;
      CAPTURE_SHAPE(s);
      const size_t N = s.batch, K = s.in, M = s.out;
      DenseKernels kernels(s);
      const std::vector<float> src = random_vector(N * K, 31), weights = random_vector(M * K, 32),
                               bias = random_vector(M, 33), diff_dst = random_vector(N * M, 34);
      DenseShape f32 = s;
      f32.bf16 = false;

      std::vector<float> dst = guarded_output(N * M, 35), expected(N * M), exact(N * M);
      kernels.forward(src.data(), weights.data(), bias.data(), dst.data());
      reference::dense_forward(s, src.data(), weights.data(), bias.data(), expected.data());
      reference::dense_forward(f32, src.data(), weights.data(), bias.data(), exact.data());
      CHECK(relative_error(dst, expected, N * M) < kTolerance);
      CHECK(guard_intact(dst));

      std::vector<float> diff_src = guarded_output(N * K, 36), expected_diff_src(N * K),
                         exact_diff_src(N * K);
      kernels.backward_data(diff_dst.data(), weights.data(), diff_src.data());
      reference::dense_backward_data(s, diff_dst.data(), weights.data(), expected_diff_src.data());
      reference::dense_backward_data(f32, diff_dst.data(), weights.data(), exact_diff_src.data());
      CHECK(relative_error(diff_src, expected_diff_src, N * K) < kTolerance);

      for (bool accumulate : {false, true}) {
        std::vector<float> diff_weights = guarded_output(M * K, 37), expected_weights(diff_weights);
        kernels.backward_weights(diff_dst.data(), src.data(), diff_weights.data(), accumulate);
        reference::dense_backward_weights(s, diff_dst.data(), src.data(), expected_weights.data(),
                                          accumulate);
        CHECK(relative_error(diff_weights, expected_weights, M * K) < kTolerance);
        CHECK(guard_intact(diff_weights));
      }
      // Where sums are long enough, the rounded operands show: the kernels are not computing in f32.
      if (K >= 33) CHECK(relative_error(exact_diff_src, expected_diff_src, N * K) > 10 * kTolerance);
    }
}
