// Nearest upsampling: the kernels (oneDNN resampling forward, a threaded loop backward) against the
// reference loops for a table of shapes and factors; a finite-difference check of the reference backward; a
// hand-computed example; error messages.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernel_test_util.h"
#include "kernels/upsample.h"

using namespace hg;
using namespace hg::test;

namespace {

size_t src_size(const UpsampleShape& s) {
  return size_t(s.batch * s.channels * s.height * s.width);
}
size_t dst_size(const UpsampleShape& s) {
  return src_size(s) * size_t(s.factor * s.factor);
}

// batch, channels, height, width, factor
const UpsampleShape kShapes[] = {
    {1, 1, 3, 3, 2}, {2, 3, 7, 7, 2}, {128, 32, 7, 7, 2},  // conv_skip_denoising.graph's up2
    {2, 2, 5, 4, 3}, {1, 2, 3, 5, 4}, {2, 1, 2, 3, 7},     // odd and larger factors, non-square
    {3, 2, 4, 4, 1},                                       // factor 1: a copy
};

#define CAPTURE_SHAPE(s)                      \
  const std::string shape_name = describe(s); \
  CAPTURE(shape_name)

}  // namespace

// Forward copies values and backward sums each block in the reference's order, so both must be exact.
TEST_CASE("upsample forward and backward match the reference") {
  for (const UpsampleShape& s : kShapes) {
    CAPTURE_SHAPE(s);
    const size_t n_src = src_size(s), n_dst = dst_size(s);
    UpsampleKernels kernels(s);
    const std::vector<float> src = random_vector(n_src, 1), diff_dst = random_vector(n_dst, 2);
    std::vector<float> dst = guarded_output(n_dst, 3), expected(n_dst);
    kernels.forward(src.data(), dst.data());
    reference::upsample_forward(s, src.data(), expected.data());
    CHECK(std::vector<float>(dst.begin(), dst.begin() + long(n_dst)) == expected);
    CHECK(guard_intact(dst));

    std::vector<float> diff_src = guarded_output(n_src, 4), expected_diff_src(n_src);
    kernels.backward(diff_dst.data(), diff_src.data());
    reference::upsample_backward(s, diff_dst.data(), expected_diff_src.data());
    CHECK(std::vector<float>(diff_src.begin(), diff_src.begin() + long(n_src)) == expected_diff_src);
    CHECK(guard_intact(diff_src));
  }
}

TEST_CASE("upsample reference backward matches finite differences") {
  const UpsampleShape s{2, 2, 3, 2, 3};
  std::vector<float> src = random_vector(src_size(s), 5);
  const std::vector<float> g = random_vector(dst_size(s), 6);
  std::vector<float> dst(dst_size(s)), diff_src(src_size(s));
  auto loss = [&] {
    reference::upsample_forward(s, src.data(), dst.data());
    return dot(g, dst);
  };
  reference::upsample_backward(s, g.data(), diff_src.data());
  check_gradient("src", src, diff_src, loss);
}

TEST_CASE("upsample pins a hand-computed example") {
  const UpsampleShape s{1, 1, 2, 2, 2};
  const std::vector<float> src = {1, 2, 3, 4};
  std::vector<float> dst(16), diff_src(4);
  UpsampleKernels kernels(s);
  kernels.forward(src.data(), dst.data());
  CHECK(dst == std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  std::vector<float> diff_dst(16);
  for (size_t i = 0; i < 16; ++i) diff_dst[i] = float(i);
  kernels.backward(diff_dst.data(), diff_src.data());
  // Block (0, 0) holds 0, 1, 4, 5; (0, 1) 2, 3, 6, 7; (1, 0) 8, 9, 12, 13; (1, 1) 10, 11, 14, 15.
  CHECK(diff_src == std::vector<float>{10, 18, 42, 50});
}

TEST_CASE("upsample kernels reject invalid shapes with a message naming them") {
  CHECK_THROWS_WITH_AS(
      UpsampleKernels(UpsampleShape{1, 2, 0, 3, 2}),
      "upsample: invalid shape (N=1, C=2, H=0, W=3, factor 2): sizes and factor must be at least 1",
      std::runtime_error);
}
