// 2-D convolution and transposed convolution on oneDNN, with primitives created once per node and shape.
// Legend: N = batch, C = in_channels, OC = out_channels, H,W = input size, OH,OW = output size,
// KH,KW = kernel, S = stride, P = padding (the same on both sides). Every buffer is plain and dense:
//   src (N,C,H,W), dst (N,OC,OH,OW)     NCHW
//   weights (OC,C,KH,KW)                OIHW for a convolution; (C,OC,KH,KW) for a transposed one
//   bias (OC)
// convolution (transposed = false), OH = (H + 2P - KH) / S + 1, rounded down:
//   dst[n][o][y][x] = bias[o] + sum_{c,i,j} src[n][c][y*S - P + i][x*S - P + j] * weights[o][c][i][j]
// transposed convolution (transposed = true), OH = (H - 1) * S - 2P + KH:
//   dst[n][o][y*S - P + i][x*S - P + j] += src[n][c][y][x] * weights[c][o][i][j]   (plus bias[o] once)
// Transposed weights are (C,OC,KH,KW), PyTorch's ConvTranspose2d.weight layout, which is also the weights of
// the convolution whose backward-data pass this is. Inside, a stage may run on oneDNN's channel-blocked
// layouts, reordering from and to these buffers (see conv.cpp).
// Taps that fall into the padding read (or write) nothing. A fused activation f makes the forward pass write
// f(dst); the backward passes take the gradient with respect to the pre-activation dst, as without one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kernels/activation.h"

namespace hg {

struct ConvShape {
  int64_t batch = 0, in_channels = 0, in_height = 0, in_width = 0, out_channels = 0;
  int64_t kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool transposed = false;  // transposed convolution (oneDNN deconvolution), for decoders
  bool has_bias = true;
  // An elementwise activation the forward pass applies to dst (a oneDNN post-op), and its alpha.
  Activation activation = Activation::Linear;
  float alpha = 0;
  // The backward passes will run after each forward (a training plan's kernels): the forward pass keeps its
  // src in oneDNN's layout for backward weights, instead of that pass reordering it again.
  bool training = false;

  int64_t out_height() const;
  int64_t out_width() const;
};

// "N=2, C=16, H=14, W=14 -> OC=1, kernel 4x4, stride 2x2, pad 1x1, with bias", for messages.
std::string describe(const ConvShape& s);

class ConvKernels {
 public:
  explicit ConvKernels(const ConvShape& shape);  // validates, creates every primitive; throws on failure
  ~ConvKernels();
  ConvKernels(const ConvKernels&) = delete;
  ConvKernels& operator=(const ConvKernels&) = delete;

  const ConvShape& shape() const;
  // Which oneDNN implementation runs each stage, and which reorder from and to the plain buffers:
  // "forward jit:avx512_core (reordered); backward data ...", for profiles and tests.
  std::string implementations() const;
  // Results overwrite their outputs. bias is ignored (and may be null) when !has_bias; diff_bias may be
  // null, and then backward_weights computes the weights' gradient only. A stage creates its primitives
  // on its first call. Within a step, the backward passes reuse the blocked copies of diff_dst (and, with
  // `training`, of forward's src) made since the last forward call for the same buffers: a caller that
  // changes those buffers' contents in between must call forward again.
  void forward(const float* src, const float* weights, const float* bias, float* dst);
  void backward_data(const float* diff_dst, const float* weights, float* diff_src);
  void backward_weights(const float* diff_dst, const float* src, float* diff_weights, float* diff_bias);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace reference {
// Plain loops with the same contracts (dispatching on s.transposed), for tests. Transposed forward and
// backward data are written out directly, not as calls to each other's convolution twin.
void conv_forward(const ConvShape& s, const float* src, const float* weights, const float* bias, float* dst);
void conv_backward_data(const ConvShape& s, const float* diff_dst, const float* weights, float* diff_src);
void conv_backward_weights(const ConvShape& s, const float* diff_dst, const float* src, float* diff_weights,
                           float* diff_bias);
}  // namespace reference

}  // namespace hg
