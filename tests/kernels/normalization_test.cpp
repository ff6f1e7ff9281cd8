// Batch and layer normalization: oneDNN kernels against the reference loops for a table of shapes (features
// and [C, H, W] images), with batch statistics and, for batch norm, global ones; finite-difference checks of
// every reference gradient; a hand-computed example; determinism and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "kernels/normalization.h"

using namespace hg;
using namespace hg::test;

namespace {

// oneDNN computes in float, the reference in double; a wrong formula is off by far more.
constexpr double kTolerance = 1e-4;

size_t data_size(const NormShape& s) {
  return size_t(s.batch * s.channels * s.pixels);
}

// batch, channels, pixels, layer
const NormShape kShapes[] = {
    {4, 5, 1, false},  {128, 20, 1, false},   // features
    {2, 3, 25, false}, {16, 32, 196, false},  // images; the second is conv_vae_fashion.graph's first
    {1, 4, 9, false},                         // one sample: statistics over its pixels only
    {4, 10, 1, true},  {128, 400, 1, true},   // layer norm of features
    {2, 3, 25, true},  {8, 16, 49, true},     // and of images
};

// Each batch norm shape with batch statistics and with global ones; layer norm only with its own.
std::vector<NormShape> with_both_statistics(NormShape s) {
  if (s.layer) return {s};
  NormShape global = s;
  global.global_stats = true;
  return {s, global};
}

// Random inputs away from zero mean, and (for global statistics) a mean and positive variance per group.
struct Inputs {
  std::vector<float> src, scale, shift, mean, variance, diff_dst;
  explicit Inputs(const NormShape& s)
      : src(random_vector(data_size(s), 1, -1.f, 3.f)),
        scale(random_vector(size_t(s.parameters()), 2, 0.5f, 1.5f)),
        shift(random_vector(size_t(s.parameters()), 3)),
        mean(random_vector(size_t(s.groups()), 4)),
        variance(random_vector(size_t(s.groups()), 5, 0.5f, 2.f)),
        diff_dst(random_vector(data_size(s), 6)) {}
};

#define CAPTURE_SHAPE(s)                      \
  const std::string shape_name = describe(s); \
  CAPTURE(shape_name)

}  // namespace

TEST_CASE("normalization forward and backward match the reference") {
  for (const NormShape& shape : kShapes)
    for (const NormShape& s : with_both_statistics(shape)) {
      CAPTURE_SHAPE(s);
      const size_t n = data_size(s), p = size_t(s.parameters()), g = size_t(s.groups());
      Inputs in(s);
      NormKernels kernels(s);
      std::vector<float> mean = in.mean, variance = in.variance;  // the reference's (computed unless global)

      std::vector<float> dst = guarded_output(n, 7), expected(n);
      kernels.forward(in.src.data(), in.scale.data(), in.shift.data(), dst.data(), in.mean.data(),
                      in.variance.data());
      reference::norm_forward(s, in.src.data(), in.scale.data(), in.shift.data(), mean.data(),
                              variance.data(), expected.data());
      CHECK(relative_error(dst, expected, n) < kTolerance);
      CHECK(guard_intact(dst));
      CHECK(relative_error(std::vector<float>(kernels.mean(), kernels.mean() + g), mean, g) < kTolerance);
      CHECK(relative_error(std::vector<float>(kernels.variance(), kernels.variance() + g), variance, g) <
            kTolerance);

      std::vector<float> diff_src = guarded_output(n, 8), expected_diff_src(n);
      kernels.backward_data(in.diff_dst.data(), in.src.data(), in.scale.data(), diff_src.data());
      reference::norm_backward_data(s, in.diff_dst.data(), in.src.data(), in.scale.data(), mean.data(),
                                    variance.data(), expected_diff_src.data());
      CHECK(relative_error(diff_src, expected_diff_src, n) < kTolerance);
      CHECK(guard_intact(diff_src));

      std::vector<float> diff_scale = guarded_output(p, 9), diff_shift = guarded_output(p, 10),
                         expected_scale(p), expected_shift(p);
      kernels.backward_scale(in.diff_dst.data(), in.src.data(), diff_scale.data());
      kernels.backward_shift(in.diff_dst.data(), diff_shift.data());
      reference::norm_backward_scale(s, in.diff_dst.data(), in.src.data(), mean.data(), variance.data(),
                                     expected_scale.data());
      reference::norm_backward_shift(s, in.diff_dst.data(), expected_shift.data());
      CHECK(relative_error(diff_scale, expected_scale, p) < kTolerance);
      CHECK(relative_error(diff_shift, expected_shift, p) < kTolerance);
      CHECK(guard_intact(diff_scale));
      CHECK(guard_intact(diff_shift));
      // The same gradients, as backward_data's oneDNN pass computed them.
      CHECK(relative_error(std::vector<float>(kernels.diff_scale(), kernels.diff_scale() + p), expected_scale,
                           p) < kTolerance);
      CHECK(relative_error(std::vector<float>(kernels.diff_shift(), kernels.diff_shift() + p), expected_shift,
                           p) < kTolerance);
    }
}

TEST_CASE("normalization backward follows the latest forward's statistics") {
  const NormShape s{8, 3, 16, false};
  Inputs first(s), second(s);
  second.src = random_vector(data_size(s), 11, -2.f, 5.f);
  NormKernels kernels(s);
  const size_t n = data_size(s);
  std::vector<float> dst(n), diff_src(n), expected(n), mean(3), variance(3);
  kernels.forward(first.src.data(), first.scale.data(), first.shift.data(), dst.data());
  kernels.forward(second.src.data(), first.scale.data(), first.shift.data(), dst.data());
  kernels.backward_data(first.diff_dst.data(), second.src.data(), first.scale.data(), diff_src.data());
  reference::norm_forward(s, second.src.data(), first.scale.data(), first.shift.data(), mean.data(),
                          variance.data(), dst.data());
  reference::norm_backward_data(s, first.diff_dst.data(), second.src.data(), first.scale.data(), mean.data(),
                                variance.data(), expected.data());
  CHECK(relative_error(diff_src, expected, n) < kTolerance);
}

TEST_CASE("normalization reference gradients match finite differences") {
  const NormShape shapes[] = {{4, 3, 1, false}, {2, 2, 6, false}, {3, 5, 1, true}, {2, 2, 4, true}};
  for (const NormShape& shape : shapes)
    for (const NormShape& s : with_both_statistics(shape)) {
      CAPTURE_SHAPE(s);
      Inputs in(s);
      const size_t n = data_size(s), p = size_t(s.parameters());
      // The loss L = sum(g * dst); the statistics are recomputed from src on every call unless global.
      auto loss = [&] {
        std::vector<float> dst(n), mean = in.mean, variance = in.variance;
        reference::norm_forward(s, in.src.data(), in.scale.data(), in.shift.data(), mean.data(),
                                variance.data(), dst.data());
        return dot(in.diff_dst, dst);
      };
      std::vector<float> dst(n), mean = in.mean, variance = in.variance, diff_src(n), diff_scale(p),
                                 diff_shift(p);
      reference::norm_forward(s, in.src.data(), in.scale.data(), in.shift.data(), mean.data(),
                              variance.data(), dst.data());
      reference::norm_backward_data(s, in.diff_dst.data(), in.src.data(), in.scale.data(), mean.data(),
                                    variance.data(), diff_src.data());
      reference::norm_backward_scale(s, in.diff_dst.data(), in.src.data(), mean.data(), variance.data(),
                                     diff_scale.data());
      reference::norm_backward_shift(s, in.diff_dst.data(), diff_shift.data());
      check_gradient("src", in.src, diff_src, loss);
      check_gradient("scale", in.scale, diff_scale, loss);
      check_gradient("shift", in.shift, diff_shift, loss);
    }
}

// Batch norm of two features over a batch of 2: x = (1, 4), (3, 0) gives means (2, 2), biased variances
// (1, 4), so xhat = (-1, 1), (1, -1) with epsilon ~ 0; dst = xhat * (2, 1) + (0.5, 0). Layer norm of the same
// two samples: sample 0 has mean 2.5, variance 2.25.
TEST_CASE("normalization pins a hand-computed example") {
  const std::vector<float> src = {1, 4, 3, 0}, scale = {2, 1}, shift = {0.5f, 0};
  NormShape batch{2, 2, 1, false};
  batch.epsilon = 1e-12f;
  NormKernels b(batch);
  std::vector<float> dst(4);
  b.forward(src.data(), scale.data(), shift.data(), dst.data());
  const std::vector<float> expected = {-1.5f, 1, 2.5f, -1};
  for (size_t i = 0; i < 4; ++i) CHECK(dst[i] == doctest::Approx(expected[i]).epsilon(1e-5));
  CHECK(b.mean()[0] == 2);
  CHECK(b.variance()[1] == doctest::Approx(4).epsilon(1e-6));

  NormShape layer{2, 2, 1, true};
  layer.epsilon = 1e-12f;
  NormKernels l(layer);
  l.forward(src.data(), scale.data(), shift.data(), dst.data());
  CHECK(l.mean()[0] == doctest::Approx(2.5));
  CHECK(l.variance()[0] == doctest::Approx(2.25));
  CHECK(dst[0] == doctest::Approx(-1 * 2 + 0.5).epsilon(1e-5));
  CHECK(dst[1] == doctest::Approx(1).epsilon(1e-5));
}

TEST_CASE("normalization kernels give identical bits when run twice") {
  for (const NormShape& s : {NormShape{16, 32, 196, false}, NormShape{128, 400, 1, true}}) {
    CAPTURE_SHAPE(s);
    Inputs in(s);
    const size_t n = data_size(s), p = size_t(s.parameters());
    auto run = [&] {
      NormKernels kernels(s);
      std::vector<float> out(2 * n + 2 * p);
      kernels.forward(in.src.data(), in.scale.data(), in.shift.data(), out.data());
      kernels.backward_data(in.diff_dst.data(), in.src.data(), in.scale.data(), out.data() + n);
      kernels.backward_scale(in.diff_dst.data(), in.src.data(), out.data() + 2 * n);
      kernels.backward_shift(in.diff_dst.data(), out.data() + 2 * n + p);
      out.insert(out.end(), kernels.diff_scale(), kernels.diff_scale() + p);
      return out;
    };
    CHECK(run() == run());
  }
}

TEST_CASE("normalization kernels reject invalid shapes with a message naming them") {
  CHECK_THROWS_WITH_AS(
      NormKernels(NormShape{0, 3, 1, false}),
      "batch norm: invalid shape (batch norm, N=0, C=3, S=1, batch statistics): sizes must be "
      "at least 1",
      std::runtime_error);
  NormShape layer{2, 3, 1, true};
  layer.global_stats = true;
  CHECK_THROWS_WITH_AS(
      NormKernels{layer},
      "layer norm: invalid shape (layer norm, N=2, C=3, S=1, global statistics): layer norm has "
      "no global statistics",
      std::runtime_error);
}
