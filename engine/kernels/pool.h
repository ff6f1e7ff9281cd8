// 2-D max and average pooling on oneDNN, with primitives created once per node and shape.
// Legend: N = batch, C = channels, H,W = input size, OH,OW = output size, K = kernel, S = stride,
// P = padding (the same on both sides). src (N,C,H,W) and dst (N,C,OH,OW) are plain NCHW buffers.
//   OH = (H + 2P - KH) / S + 1, rounded down; padding must be smaller than the kernel, so every window
//   covers at least one input value.
//   max:     dst = the largest input in the window (padding never wins)
//   average: dst = the mean of the window's inputs, padding excluded from the count
//   backward: diff_src gets each diff_dst at the window's maximum (max, first one on ties), or spread
//             evenly over the window's inputs (average); overlapping windows add up.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hg {

struct PoolShape {
  int64_t batch = 0, channels = 0, in_height = 0, in_width = 0;
  int64_t kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool max = true;  // else average, excluding padding

  int64_t out_height() const;
  int64_t out_width() const;
};

// "N=4, C=8, H=28, W=28, kernel 2x2, stride 2x2, pad 0x0", for messages.
std::string describe(const PoolShape& s);

class PoolKernels {
 public:
  // Validates, creates both primitives and, for max pooling, the workspace in which forward records each
  // window's maximum for backward. Throws on failure.
  explicit PoolKernels(const PoolShape& shape);
  ~PoolKernels();
  PoolKernels(const PoolKernels&) = delete;
  PoolKernels& operator=(const PoolKernels&) = delete;

  const PoolShape& shape() const;
  // Neither allocates or creates primitives. Results overwrite their outputs. Max pooling's backward uses
  // the workspace of this object's latest forward, so run it after the forward of the same step.
  void forward(const float* src, float* dst);
  void backward(const float* diff_dst, float* diff_src);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace reference {
// Plain loops with the same contracts, for tests. Backward recomputes the maxima from src (unused for
// average pooling) instead of keeping a workspace.
void pool_forward(const PoolShape& s, const float* src, float* dst);
void pool_backward(const PoolShape& s, const float* diff_dst, const float* src, float* diff_src);
}  // namespace reference

}  // namespace hg
