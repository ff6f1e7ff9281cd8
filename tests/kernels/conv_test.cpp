// The conv op: oneDNN convolution and transposed convolution kernels against the reference loops for a
// table of shapes, with and without bias; finite-difference checks of every reference gradient; shape
// formulas; hand-computed examples that pin the buffer layouts; determinism and error messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <dnnl.hpp>

#include "kernels/conv.h"
#include "kernels/kernel_test_util.h"
#include "test_skip.h"

using namespace hg;
using namespace hg::test;

namespace {

constexpr double kTolerance = 1e-4;

struct Sizes {
  size_t src, weights, bias, dst;
};
Sizes sizes(const ConvShape& s) {
  return {size_t(s.batch * s.in_channels * s.in_height * s.in_width),
          size_t(s.out_channels * s.in_channels * s.kernel_h * s.kernel_w), size_t(s.out_channels),
          size_t(s.batch * s.out_channels * s.out_height() * s.out_width())};
}

// Each shape with the output size its formula must give.
struct Case {
  ConvShape shape;
  int64_t out_height, out_width;
};
// batch, in_channels, in_height, in_width, out_channels, kernel_h, kernel_w, stride_h, stride_w, pad_h,
// pad_w, transposed
const Case kShapes[] = {
    {{1, 1, 5, 5, 1, 3, 3, 1, 1, 1, 1, false}, 5, 5},
    {{2, 3, 8, 8, 4, 3, 3, 2, 2, 1, 1, false}, 4, 4},
    {{4, 1, 28, 28, 8, 3, 3, 2, 2, 1, 1, false}, 14, 14},  // MNIST encoder
    {{2, 3, 9, 7, 5, 3, 2, 2, 1, 1, 0, false}, 5, 6},      // non-square kernel, stride and padding
    {{1, 2, 7, 7, 3, 2, 2, 3, 3, 0, 0, false}, 2, 2},      // stride > kernel: some inputs unused
    {{3, 4, 6, 5, 2, 1, 1, 1, 1, 0, 0, false}, 6, 5},      // 1x1
    {{4, 8, 7, 7, 4, 4, 4, 2, 2, 1, 1, true}, 14, 14},     // MNIST decoder
    {{2, 16, 14, 14, 1, 4, 4, 2, 2, 1, 1, true}, 28, 28},  // MNIST decoder output
    {{2, 3, 5, 6, 2, 2, 3, 1, 2, 0, 1, true}, 6, 11},      // non-square kernel, stride and padding
    {{1, 2, 3, 3, 2, 2, 2, 3, 3, 0, 0, true}, 8, 8},       // stride > kernel: some outputs bias only
    {{2, 3, 4, 4, 5, 3, 3, 1, 1, 1, 1, true}, 4, 4},
    // Channel counts where the stages run on oneDNN's blocked layouts, reordered from and to the plain
    // buffers: the conv autoencoder's layers, and counts that leave a partly filled channel block.
    {{3, 1, 28, 28, 16, 3, 3, 2, 2, 1, 1, false}, 14, 14},
    {{3, 16, 14, 14, 32, 3, 3, 2, 2, 1, 1, false}, 7, 7},
    {{3, 32, 7, 7, 16, 4, 4, 2, 2, 1, 1, true}, 14, 14},
    {{2, 12, 9, 9, 20, 3, 3, 1, 1, 1, 1, false}, 9, 9},
    {{2, 20, 5, 5, 12, 3, 3, 2, 2, 1, 1, true}, 9, 9},
};

std::vector<ConvShape> with_and_without_bias(ConvShape s) {
  ConvShape without = s;
  s.has_bias = true;
  without.has_bias = false;
  return {s, without};
}

#define CAPTURE_SHAPE(s)                      \
  const std::string shape_name = describe(s); \
  CAPTURE(shape_name);                        \
  CAPTURE((s).transposed)

// A hand-computed example: its inputs and diff_dst, and the outputs and gradients it must give.
struct Example {
  ConvShape shape;
  std::vector<float> src, weights, bias, diff_dst;
  std::vector<float> dst, diff_src, diff_weights, diff_bias;
};

// Runs the reference loops, then the oneDNN kernels, on `e`, checking each against the expected buffers.
void check_example(const Example& e) {
  const ConvShape& s = e.shape;
  std::vector<float> dst(e.dst.size()), diff_src(e.diff_src.size()), diff_weights(e.diff_weights.size()),
      diff_bias(e.diff_bias.size());
  auto check = [&](const char* computed_by) {
    CAPTURE(computed_by);
    CHECK(dst == e.dst);
    CHECK(diff_src == e.diff_src);
    CHECK(diff_weights == e.diff_weights);
    CHECK(diff_bias == e.diff_bias);
  };
  reference::conv_forward(s, e.src.data(), e.weights.data(), e.bias.data(), dst.data());
  reference::conv_backward_data(s, e.diff_dst.data(), e.weights.data(), diff_src.data());
  reference::conv_backward_weights(s, e.diff_dst.data(), e.src.data(), diff_weights.data(), diff_bias.data());
  check("reference");

  ConvKernels kernels(s);
  std::fill(dst.begin(), dst.end(), 0.f);
  kernels.forward(e.src.data(), e.weights.data(), e.bias.data(), dst.data());
  kernels.backward_data(e.diff_dst.data(), e.weights.data(), diff_src.data());
  kernels.backward_weights(e.diff_dst.data(), e.src.data(), diff_weights.data(), diff_bias.data());
  check("oneDNN kernels");
}

}  // namespace

TEST_CASE("conv output sizes follow the convolution and transposed convolution formulas") {
  for (const Case& c : kShapes) {
    CAPTURE_SHAPE(c.shape);
    CHECK(c.shape.out_height() == c.out_height);
    CHECK(c.shape.out_width() == c.out_width);
  }
  // A transposed conv inverts the size rule of the conv with the same kernel, stride and padding.
  const ConvShape encoder{4, 1, 28, 28, 8, 4, 4, 2, 2, 1, 1, false};
  ConvShape decoder{4, 8, encoder.out_height(), encoder.out_width(), 1, 4, 4, 2, 2, 1, 1, true};
  CHECK(decoder.out_height() == 28);
  CHECK(decoder.out_width() == 28);
}

TEST_CASE("conv forward and backward data match the reference") {
  for (const Case& c : kShapes)
    for (const ConvShape& s : with_and_without_bias(c.shape)) {
      CAPTURE_SHAPE(s);
      const Sizes n = sizes(s);
      ConvKernels kernels(s);
      const std::vector<float> src = random_vector(n.src, 1), weights = random_vector(n.weights, 2),
                               bias = random_vector(n.bias, 3), diff_dst = random_vector(n.dst, 4);

      std::vector<float> dst = guarded_output(n.dst, 5), expected(n.dst);
      kernels.forward(src.data(), weights.data(), s.has_bias ? bias.data() : nullptr, dst.data());
      reference::conv_forward(s, src.data(), weights.data(), bias.data(), expected.data());
      CHECK(relative_error(dst, expected, n.dst) < kTolerance);
      CHECK(guard_intact(dst));

      std::vector<float> diff_src = guarded_output(n.src, 6), expected_diff_src(n.src);
      kernels.backward_data(diff_dst.data(), weights.data(), diff_src.data());
      reference::conv_backward_data(s, diff_dst.data(), weights.data(), expected_diff_src.data());
      CHECK(relative_error(diff_src, expected_diff_src, n.src) < kTolerance);
      CHECK(guard_intact(diff_src));
    }
}

TEST_CASE("conv backward weights and bias match the reference") {
  for (const Case& c : kShapes)
    for (const ConvShape& s : with_and_without_bias(c.shape)) {
      CAPTURE_SHAPE(s);
      const Sizes n = sizes(s);
      ConvKernels kernels(s);
      const std::vector<float> src = random_vector(n.src, 11), diff_dst = random_vector(n.dst, 12);

      // Outputs start from non-zero contents: the kernels overwrite.
      std::vector<float> diff_weights = guarded_output(n.weights, 13), expected_weights(n.weights);
      std::vector<float> diff_bias = guarded_output(n.bias, 14), expected_bias(n.bias);
      kernels.backward_weights(diff_dst.data(), src.data(), diff_weights.data(),
                               s.has_bias ? diff_bias.data() : nullptr);
      reference::conv_backward_weights(s, diff_dst.data(), src.data(), expected_weights.data(),
                                       expected_bias.data());
      CHECK(relative_error(diff_weights, expected_weights, n.weights) < kTolerance);
      CHECK(guard_intact(diff_weights));
      if (s.has_bias) {
        CHECK(relative_error(diff_bias, expected_bias, n.bias) < kTolerance);
        CHECK(guard_intact(diff_bias));
      }
    }
}

TEST_CASE("conv reference gradients match finite differences") {
  const ConvShape shapes[] = {{2, 2, 5, 4, 3, 3, 2, 2, 1, 1, 1, false, true},
                              {2, 2, 3, 4, 3, 3, 2, 2, 1, 1, 0, true, true}};
  for (const ConvShape& s : shapes) {
    CAPTURE_SHAPE(s);
    const Sizes n = sizes(s);
    std::vector<float> src = random_vector(n.src, 21), weights = random_vector(n.weights, 22),
                       bias = random_vector(n.bias, 23);
    const std::vector<float> g = random_vector(n.dst, 24);
    std::vector<float> dst(n.dst);
    auto loss = [&] {
      reference::conv_forward(s, src.data(), weights.data(), bias.data(), dst.data());
      return dot(g, dst);
    };

    std::vector<float> diff_src(n.src), diff_weights(n.weights), diff_bias(n.bias);
    reference::conv_backward_data(s, g.data(), weights.data(), diff_src.data());
    reference::conv_backward_weights(s, g.data(), src.data(), diff_weights.data(), diff_bias.data());
    check_gradient("diff_src", src, diff_src, loss);
    check_gradient("diff_weights", weights, diff_weights, loss);
    check_gradient("diff_bias", bias, diff_bias, loss);
  }
}

TEST_CASE("conv on a hand-computed example: 3x3 input, 2x2 kernel, stride 2, pad 1") {
  // src = [[1,2,3],[4,5,6],[7,8,9]], weights = [[1,2],[3,4]]. Windows start at -1 and 1 on each axis.
  const ConvShape s{1, 1, 3, 3, 1, 2, 2, 2, 2, 1, 1, false, true};
  const std::vector<float> src = {1, 2, 3, 4, 5, 6, 7, 8, 9}, weights = {1, 2, 3, 4}, bias = {0.5f};
  const std::vector<float> ones = {1, 1, 1, 1};
  // dst[0][0] = 1*4; dst[0][1] = 2*3 + 3*4; dst[1][0] = 4*2 + 7*4; dst[1][1] = 5*1 + 6*2 + 8*3 + 9*4.
  const std::vector<float> expected_dst = {4.5f, 18.5f, 36.5f, 77.5f};
  // The windows tile the input without overlap, so each input gets the one weight that touched it.
  const std::vector<float> expected_diff_src = {4, 3, 4, 2, 1, 2, 4, 3, 4};
  // weights[i][j] sums the inputs it touched: [0][0] {5}, [0][1] {4,6}, [1][0] {2,8}, [1][1] {1,3,7,9}.
  const std::vector<float> expected_diff_weights = {5, 10, 10, 20}, expected_diff_bias = {4};

  check_example({s, src, weights, bias, ones, expected_dst, expected_diff_src, expected_diff_weights,
                 expected_diff_bias});
}

TEST_CASE("transposed conv on a hand-computed example with one input channel") {
  // src (1,1,2,2) = [[1,2],[3,4]]; 2 output channels, kernel 2x2, stride 2, pad 1: each input scatters a
  // 2x2 block into a 4x4 plane, and padding 1 crops its border, leaving the inner 2x2.
  const ConvShape s{1, 1, 2, 2, 2, 2, 2, 2, 2, 1, 1, true, true};
  const std::vector<float> src = {1, 2, 3, 4}, bias = {0.5f, -0.5f};
  const std::vector<float> weights = {1, 2, 3, 4,    // output channel 0
                                      0, 0, 0, -1};  // output channel 1
  // Uncropped channel 0: [[1,2,2,4],[3,4,6,8],[3,6,4,8],[9,12,12,16]]; channel 1 is -src at odd rows/cols.
  const std::vector<float> expected_dst = {4.5f, 6.5f, 6.5f, 4.5f, -1.5f, -0.5f, -0.5f, -0.5f};
  // diff_dst = ones: each input sums the weights whose taps survived the crop: src[0][0] via [1][1] only.
  const std::vector<float> ones(8, 1.f);
  const std::vector<float> expected_diff_src = {4 - 1, 3, 2, 1};
  // weights[o][0][i][j] sums the inputs whose tap (i, j) survived: [1][1] src[0][0], [1][0] src[0][1], ...
  const std::vector<float> expected_diff_weights = {4, 3, 2, 1, 4, 3, 2, 1}, expected_diff_bias = {4, 4};

  check_example({s, src, weights, bias, ones, expected_dst, expected_diff_src, expected_diff_weights,
                 expected_diff_bias});
}

TEST_CASE("transposed conv forward is the convolution's backward data over the same weights buffer") {
  // Transposed (C=3 -> OC=5) over 4x4 is the gradient of a conv (C=5 -> OC=3) over its 8x8 output. The
  // transposed weights are stored (C, OC, KH, KW) = (3, 5, 4, 4), which is exactly that conv's (O, I, KH,
  // KW): the same buffer serves both, as in PyTorch's ConvTranspose2d.
  const ConvShape transposed{2, 3, 4, 4, 5, 4, 4, 2, 2, 1, 1, true, false};
  const ConvShape conv{2, 5, 8, 8, 3, 4, 4, 2, 2, 1, 1, false, false};
  const std::vector<float> src = random_vector(2 * 3 * 4 * 4, 31), weights = random_vector(3 * 5 * 4 * 4, 32);
  std::vector<float> dst(2 * 5 * 8 * 8), expected(dst.size()), reference_dst(dst.size());
  ConvKernels(transposed).forward(src.data(), weights.data(), nullptr, dst.data());
  ConvKernels(conv).backward_data(src.data(), weights.data(), expected.data());
  reference::conv_forward(transposed, src.data(), weights.data(), nullptr, reference_dst.data());
  CHECK(relative_error(dst, expected, dst.size()) < kTolerance);
  CHECK(relative_error(reference_dst, expected, dst.size()) < kTolerance);
}

TEST_CASE("conv kernels give bit-identical results on repeated calls") {
  const ConvShape shapes[] = {{16, 1, 28, 28, 8, 3, 3, 2, 2, 1, 1, false, true},
                              {16, 8, 14, 14, 1, 4, 4, 2, 2, 1, 1, true, true}};
  for (const ConvShape& s : shapes) {
    CAPTURE_SHAPE(s);
    const Sizes n = sizes(s);
    ConvKernels kernels(s);
    const std::vector<float> src = random_vector(n.src, 41), weights = random_vector(n.weights, 42),
                             bias = random_vector(n.bias, 43), diff_dst = random_vector(n.dst, 44);
    auto run = [&] {
      std::vector<float> dst(n.dst), diff_src(n.src), diff_weights(n.weights), diff_bias(n.bias);
      kernels.forward(src.data(), weights.data(), bias.data(), dst.data());
      kernels.backward_data(diff_dst.data(), weights.data(), diff_src.data());
      kernels.backward_weights(diff_dst.data(), src.data(), diff_weights.data(), diff_bias.data());
      return std::vector<std::vector<float>>{dst, diff_src, diff_weights, diff_bias};
    };
    const auto first = run(), second = run();
    for (size_t i = 0; i < first.size(); ++i) {
      CAPTURE(i);
      CHECK(std::memcmp(first[i].data(), second[i].data(), first[i].size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("conv kernels refuse invalid shapes and name them") {
  CHECK_THROWS_WITH_AS(ConvKernels(ConvShape{0, 3, 8, 8, 4, 3, 3, 2, 2, 1, 1, false, true}),
                       "conv: invalid shape (N=0, C=3, H=8, W=8 -> OC=4, kernel 3x3, stride 2x2, pad 1x1, "
                       "with bias): sizes, kernel and stride must be at least 1",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(ConvKernels(ConvShape{1, 3, 8, 8, 4, 3, 3, 0, 1, 1, 1, true, false}),
                       "transposed conv: invalid shape (N=1, C=3, H=8, W=8 -> OC=4, kernel 3x3, stride 0x1, "
                       "pad 1x1): sizes, kernel and stride must be at least 1",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(ConvKernels(ConvShape{1, 1, 3, 2, 1, 3, 5, 1, 1, 1, 1, false, true}),
                       "conv: invalid shape (N=1, C=1, H=3, W=2 -> OC=1, kernel 3x5, stride 1x1, pad 1x1, "
                       "with bias): kernel 3x5 is larger than the padded input 5x4",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(ConvKernels(ConvShape{1, 1, 3, 3, 1, 3, 3, 1, 1, -1, 0, false, true}),
                       "conv: invalid shape (N=1, C=1, H=3, W=3 -> OC=1, kernel 3x3, stride 1x1, pad -1x0, "
                       "with bias): padding must not be negative",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(ConvKernels(ConvShape{1, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, true, true}),
                       "transposed conv: invalid shape (N=1, C=1, H=1, W=1 -> OC=1, kernel 2x2, stride 1x1, "
                       "pad 1x1, with bias): padding 1x1 leaves an output of 0x0",
                       std::runtime_error);
}

TEST_CASE(
    "conv kernels run 16- and 32-channel layers on oneDNN's blocked layouts and 1-channel outputs plain") {
  // On plain NCHW buffers oneDNN runs every convolution as im2col and sgemm (x64:gemm:jit); its direct
  // kernels need its channel-blocked layouts, which ConvKernels reorders into and out of.
  const unsigned avx2 = unsigned(dnnl::cpu_isa::avx2);
  if ((unsigned(dnnl::get_effective_cpu_isa()) & avx2) != avx2)
    return skip_test("oneDNN's ISA here is below AVX2: it has no blocked direct kernels to check");
  const std::string inner =
      ConvKernels(ConvShape{8, 16, 14, 14, 32, 3, 3, 2, 2, 1, 1, false, true}).implementations();
  CAPTURE(inner);
  CHECK(inner.find("forward jit:") == 0);
  CHECK(inner.find("backward data jit:") != std::string::npos);
  CHECK(inner.find("backward weights jit:") != std::string::npos);
  CHECK(inner.find("gemm") == std::string::npos);
  CHECK(inner.find("(reordered)") != std::string::npos);
  // The decoder's 1-channel output: the blocked forward would use one lane in 8 or 16.
  const std::string output =
      ConvKernels(ConvShape{8, 16, 14, 14, 1, 4, 4, 2, 2, 1, 1, true, true}).implementations();
  const std::string output_forward = output.substr(0, output.find(';'));
  CAPTURE(output);
  CHECK(output_forward.find("gemm") != std::string::npos);
  CHECK(output_forward.find("(reordered)") == std::string::npos);
}

TEST_CASE("a conv's fused activation gives the activation of its output, and leaves the gradients alone") {
  const ConvShape shapes[] = {{3, 16, 14, 14, 32, 3, 3, 2, 2, 1, 1, false, true},
                              {2, 3, 8, 8, 4, 3, 3, 2, 2, 1, 1, false, true},
                              {3, 32, 7, 7, 16, 4, 4, 2, 2, 1, 1, true, true}};
  for (ConvShape s : shapes)
    for (Activation activation : {Activation::Relu, Activation::Sigmoid, Activation::LeakyRelu}) {
      s.activation = activation;
      s.alpha = 0.1f;
      CAPTURE_SHAPE(s);
      const Sizes n = sizes(s);
      ConvKernels kernels(s);
      const std::vector<float> src = random_vector(n.src, 51), weights = random_vector(n.weights, 52),
                               bias = random_vector(n.bias, 53), diff_dst = random_vector(n.dst, 54);
      std::vector<float> dst = guarded_output(n.dst, 55), expected(n.dst), linear(n.dst);
      kernels.forward(src.data(), weights.data(), bias.data(), dst.data());
      reference::conv_forward(s, src.data(), weights.data(), bias.data(), expected.data());
      CHECK(relative_error(dst, expected, n.dst) < kTolerance);
      CHECK(guard_intact(dst));
      // The reference applies it too: without it the outputs differ.
      ConvShape plain = s;
      plain.activation = Activation::Linear;
      reference::conv_forward(plain, src.data(), weights.data(), bias.data(), linear.data());
      CHECK(relative_error(linear, expected, n.dst) > 1e-2);

      std::vector<float> diff_src(n.src), expected_diff_src(n.src);
      kernels.backward_data(diff_dst.data(), weights.data(), diff_src.data());
      reference::conv_backward_data(plain, diff_dst.data(), weights.data(), expected_diff_src.data());
      CHECK(relative_error(diff_src, expected_diff_src, n.src) < kTolerance);
    }
}

TEST_CASE("a training conv's backward passes reuse the blocked copies made this step, and only this step's") {
  // With `training`, forward keeps its src in oneDNN's layout for backward weights, and the first backward
  // pass's diff_dst serves the second: the copies must follow new contents in the same buffers each step.
  for (bool transposed : {false, true}) {
    ConvShape s = transposed ? ConvShape{3, 32, 7, 7, 16, 4, 4, 2, 2, 1, 1, true, true}
                             : ConvShape{3, 16, 14, 14, 32, 3, 3, 2, 2, 1, 1, false, true};
    s.training = true;
    CAPTURE_SHAPE(s);
    const Sizes n = sizes(s);
    ConvKernels kernels(s);
    std::vector<float> src(n.src), weights = random_vector(n.weights, 61), bias = random_vector(n.bias, 62),
                                   diff_dst(n.dst), dst(n.dst), diff_src(n.src), diff_weights(n.weights),
                                   diff_bias(n.bias);
    for (int step = 0; step < 3; ++step) {
      CAPTURE(step);
      src = random_vector(n.src, 70 + step);  // new contents, same buffers
      diff_dst = random_vector(n.dst, 80 + step);
      kernels.forward(src.data(), weights.data(), bias.data(), dst.data());
      // Both orders of the backward passes occur in plans; the bias gradient is computed on its own.
      if (step % 2 == 0) kernels.backward_data(diff_dst.data(), weights.data(), diff_src.data());
      kernels.backward_weights(diff_dst.data(), src.data(), diff_weights.data(),
                               step == 2 ? diff_bias.data() : nullptr);
      if (step % 2 == 1) kernels.backward_data(diff_dst.data(), weights.data(), diff_src.data());
      std::vector<float> expected_src(n.src), expected_weights(n.weights), expected_bias(n.bias);
      reference::conv_backward_data(s, diff_dst.data(), weights.data(), expected_src.data());
      reference::conv_backward_weights(s, diff_dst.data(), src.data(), expected_weights.data(),
                                       expected_bias.data());
      CHECK(relative_error(diff_src, expected_src, n.src) < kTolerance);
      CHECK(relative_error(diff_weights, expected_weights, n.weights) < kTolerance);
      if (step == 2) CHECK(relative_error(diff_bias, expected_bias, n.bias) < kTolerance);
    }
  }
}
