// Nearest-neighbour upsampling by an integer factor: the forward on oneDNN (resampling_nearest), its
// primitive created once per node and shape; the backward a loop (see upsample.cpp). Legend: N = batch, C =
// channels, H,W = input size, F = factor. src (N,C,H,W) and dst (N,C,H*F,W*F) are plain NCHW buffers.
//   forward:  dst[n][c][y][x] = src[n][c][y / F][x / F]   (rounded down: each input becomes an F x F block)
//   backward: diff_src[n][c][i][j] = the sum of diff_dst over the F x F block at (i*F, j*F)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hg {

struct UpsampleShape {
  int64_t batch = 0, channels = 0, height = 0, width = 0, factor = 2;
};

// "N=128, C=32, H=7, W=7, factor 2", for messages.
std::string describe(const UpsampleShape& s);

class UpsampleKernels {
 public:
  explicit UpsampleKernels(
      const UpsampleShape& shape);  // validates, creates both primitives; throws on failure
  ~UpsampleKernels();
  UpsampleKernels(const UpsampleKernels&) = delete;
  UpsampleKernels& operator=(const UpsampleKernels&) = delete;

  const UpsampleShape& shape() const;
  // Neither allocates or creates primitives. Results overwrite their outputs.
  void forward(const float* src, float* dst);
  void backward(const float* diff_dst, float* diff_src);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace reference {
// Plain loops with the same contracts, for tests.
void upsample_forward(const UpsampleShape& s, const float* src, float* dst);
void upsample_backward(const UpsampleShape& s, const float* diff_dst, float* diff_src);
}  // namespace reference

}  // namespace hg
