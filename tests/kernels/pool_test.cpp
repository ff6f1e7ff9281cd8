// The pool op: oneDNN max and average pooling against the reference loops for a table of shapes;
// finite-difference checks of the reference gradients; shape formulas; hand-computed examples;
// determinism and error messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "kernels/pool.h"

using namespace hg;
using namespace hg::test;

namespace {

// Distinct values spaced by `gap`, shuffled, so every window has a unique maximum even after a nudge
// smaller than gap / 2.
std::vector<float> distinct_values(size_t n, uint32_t seed, float gap) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (float(i) - float(n) / 2) * gap;
  std::shuffle(v.begin(), v.end(), std::mt19937(seed));
  return v;
}

constexpr double kTolerance = 1e-5;

size_t src_size(const PoolShape& s) {
  return size_t(s.batch * s.channels * s.in_height * s.in_width);
}
size_t dst_size(const PoolShape& s) {
  return size_t(s.batch * s.channels * s.out_height() * s.out_width());
}

struct Case {
  PoolShape shape;
  int64_t out_height, out_width;
};
// batch, channels, in_height, in_width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w
const Case kShapes[] = {
    {{1, 1, 5, 5, 2, 2, 2, 2, 0, 0}, 2, 2},  // the last row and column fall outside every window
    {{2, 3, 8, 8, 2, 2, 2, 2, 0, 0}, 4, 4}, {{4, 8, 28, 28, 2, 2, 2, 2, 0, 0}, 14, 14},  // MNIST encoder
    {{2, 4, 7, 7, 3, 3, 2, 2, 1, 1}, 4, 4},  // overlapping windows with padding
    {{2, 3, 5, 5, 3, 3, 1, 1, 1, 1}, 5, 5},  // "same" size, every input in up to 9 windows
    {{1, 2, 6, 9, 3, 2, 1, 2, 1, 0}, 6, 4},  // non-square kernel, stride and padding
};

std::vector<PoolShape> max_and_average(PoolShape s) {
  PoolShape average = s;
  s.max = true;
  average.max = false;
  return {s, average};
}

#define CAPTURE_SHAPE(s)                      \
  const std::string shape_name = describe(s); \
  CAPTURE(shape_name);                        \
  CAPTURE((s).max)

}  // namespace

TEST_CASE("pool output sizes follow the pooling formula, rounded down") {
  for (const Case& c : kShapes) {
    CAPTURE_SHAPE(c.shape);
    CHECK(c.shape.out_height() == c.out_height);
    CHECK(c.shape.out_width() == c.out_width);
  }
}

TEST_CASE("pool forward and backward match the reference") {
  for (const Case& c : kShapes)
    for (const PoolShape& s : max_and_average(c.shape)) {
      CAPTURE_SHAPE(s);
      const size_t n_src = src_size(s), n_dst = dst_size(s);
      PoolKernels kernels(s);
      const std::vector<float> src = distinct_values(n_src, 1, 0.01f), diff_dst = random_vector(n_dst, 2);

      std::vector<float> dst = guarded_output(n_dst, 3), expected(n_dst);
      kernels.forward(src.data(), dst.data());
      reference::pool_forward(s, src.data(), expected.data());
      CHECK(relative_error(dst, expected, n_dst) < kTolerance);
      CHECK(guard_intact(dst));

      // Outputs start non-zero: backward overwrites, also the inputs no window reaches.
      std::vector<float> diff_src = guarded_output(n_src, 4), expected_diff_src(n_src);
      kernels.backward(diff_dst.data(), diff_src.data());
      reference::pool_backward(s, diff_dst.data(), src.data(), expected_diff_src.data());
      CHECK(relative_error(diff_src, expected_diff_src, n_src) < kTolerance);
      CHECK(guard_intact(diff_src));
    }
}

TEST_CASE("max pool backward follows the latest forward") {
  const PoolShape s{2, 3, 8, 8, 2, 2, 2, 2, 0, 0, true};
  PoolKernels kernels(s);
  const std::vector<float> first = distinct_values(src_size(s), 5, 0.01f),
                           second = distinct_values(src_size(s), 6, 0.01f);
  const std::vector<float> diff_dst = random_vector(dst_size(s), 7);
  std::vector<float> dst(dst_size(s)), diff_src(src_size(s)), expected(src_size(s));
  kernels.forward(first.data(), dst.data());
  kernels.forward(second.data(), dst.data());
  kernels.backward(diff_dst.data(), diff_src.data());
  reference::pool_backward(s, diff_dst.data(), second.data(), expected.data());
  CHECK(diff_src == expected);
}

TEST_CASE("pool reference gradients match finite differences") {
  const PoolShape shapes[] = {{2, 2, 5, 6, 3, 2, 2, 1, 1, 1}, {1, 2, 5, 5, 3, 3, 1, 1, 1, 1}};
  for (const PoolShape& shape : shapes)
    for (const PoolShape& s : max_and_average(shape)) {
      CAPTURE_SHAPE(s);
      // Spaced 0.05 apart, so the 1e-2 nudges never change which input is a window's maximum.
      std::vector<float> src = distinct_values(src_size(s), 8, 0.05f);
      const std::vector<float> g = random_vector(dst_size(s), 9);
      std::vector<float> dst(dst_size(s)), diff_src(src_size(s));
      auto loss = [&] {
        reference::pool_forward(s, src.data(), dst.data());
        return dot(g, dst);
      };
      reference::pool_backward(s, g.data(), src.data(), diff_src.data());
      check_gradient("diff_src", src, diff_src, loss);
    }
}

TEST_CASE("pool on hand-computed examples") {
  SUBCASE("max 2x2 stride 2 over 0..15") {
    const PoolShape s{1, 1, 4, 4, 2, 2, 2, 2, 0, 0, true};
    std::vector<float> src(16);
    std::iota(src.begin(), src.end(), 0.f);
    const std::vector<float> diff_dst = {1, 2, 3, 4};
    const std::vector<float> expected_dst = {5, 7, 13, 15};
    const std::vector<float> expected_diff_src = {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4};
    std::vector<float> dst(4), diff_src(16);
    reference::pool_forward(s, src.data(), dst.data());
    reference::pool_backward(s, diff_dst.data(), src.data(), diff_src.data());
    CHECK(dst == expected_dst);
    CHECK(diff_src == expected_diff_src);
    PoolKernels kernels(s);
    kernels.forward(src.data(), dst.data());
    kernels.backward(diff_dst.data(), diff_src.data());
    CHECK(dst == expected_dst);
    CHECK(diff_src == expected_diff_src);
  }
  SUBCASE("average 2x2 stride 2 pad 1 over 1..9 excludes the padding") {
    const PoolShape s{1, 1, 3, 3, 2, 2, 2, 2, 1, 1, false};
    std::vector<float> src(9);
    std::iota(src.begin(), src.end(), 1.f);
    const std::vector<float> ones(4, 1.f);
    // Windows: {1}, {2,3}, {4,7}, {5,6,8,9}.
    const std::vector<float> expected_dst = {1, 2.5f, 5.5f, 7};
    const std::vector<float> expected_diff_src = {1, 0.5f, 0.5f, 0.5f, 0.25f, 0.25f, 0.5f, 0.25f, 0.25f};
    std::vector<float> dst(4), diff_src(9);
    reference::pool_forward(s, src.data(), dst.data());
    reference::pool_backward(s, ones.data(), nullptr, diff_src.data());  // average needs no src
    CHECK(dst == expected_dst);
    CHECK(diff_src == expected_diff_src);
    PoolKernels kernels(s);
    kernels.forward(src.data(), dst.data());
    kernels.backward(ones.data(), diff_src.data());
    CHECK(dst == expected_dst);
    CHECK(diff_src == expected_diff_src);
  }
}

TEST_CASE("pool kernels give bit-identical results on repeated calls") {
  for (const PoolShape& s : max_and_average({16, 8, 28, 28, 3, 3, 2, 2, 1, 1})) {
    CAPTURE_SHAPE(s);
    PoolKernels kernels(s);
    const std::vector<float> src = random_vector(src_size(s), 10), diff_dst = random_vector(dst_size(s), 11);
    auto run = [&] {
      std::vector<float> dst(dst_size(s)), diff_src(src_size(s));
      kernels.forward(src.data(), dst.data());
      kernels.backward(diff_dst.data(), diff_src.data());
      return std::make_pair(dst, diff_src);
    };
    const auto first = run(), second = run();
    CHECK(std::memcmp(first.first.data(), second.first.data(), first.first.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(first.second.data(), second.second.data(), first.second.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("pool kernels refuse invalid shapes and name them") {
  CHECK_THROWS_WITH_AS(
      PoolKernels(PoolShape{1, 0, 4, 4, 2, 2, 2, 2, 0, 0, true}),
      "max pool: invalid shape (N=1, C=0, H=4, W=4, kernel 2x2, stride 2x2, pad 0x0): sizes, "
      "kernel and stride must be at least 1",
      std::runtime_error);
  CHECK_THROWS_WITH_AS(PoolKernels(PoolShape{1, 1, 4, 4, 2, 2, 2, 2, 2, 0, false}),
                       "average pool: invalid shape (N=1, C=1, H=4, W=4, kernel 2x2, stride 2x2, pad 2x0): "
                       "padding 2x0 must be smaller than the kernel 2x2",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(
      PoolKernels(PoolShape{1, 1, 2, 3, 5, 3, 1, 1, 1, 0, true}),
      "max pool: invalid shape (N=1, C=1, H=2, W=3, kernel 5x3, stride 1x1, pad 1x0): kernel "
      "5x3 is larger than the padded input 4x3",
      std::runtime_error);
  CHECK_THROWS_WITH_AS(PoolKernels(PoolShape{1, 1, 4, 4, 2, 2, 2, 2, -1, 0, true}),
                       "max pool: invalid shape (N=1, C=1, H=4, W=4, kernel 2x2, stride 2x2, pad -1x0): "
                       "padding must not be negative",
                       std::runtime_error);
}
