// Reference convolution, transposed convolution and pooling: plain loops with the contracts in conv.h and
// pool.h, accumulating in double. Every output element is a gather over the taps that reach it, so each
// function reads as the formula it implements. Tests compare the oneDNN kernels against these.
#include <algorithm>
#include <vector>

#include "kernels/conv.h"
#include "kernels/pool.h"

namespace hg {
namespace reference {
namespace {

// Plain NCHW / OIHW / (C,H,W) offsets.
inline int64_t at(int64_t i0, int64_t d1, int64_t i1, int64_t d2, int64_t i2, int64_t d3, int64_t i3) {
  return ((i0 * d1 + i1) * d2 + i2) * d3 + i3;
}

// The input position that kernel tap k reads for strided position `out`, or -1 in the padding:
// position = out * stride - pad + k.
inline int64_t tap(int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t size) {
  const int64_t position = out * stride - pad + k;
  return position >= 0 && position < size ? position : -1;
}

// The strided position whose tap k lands on `position` (position = out * stride - pad + k), or -1 if none.
inline int64_t untap(int64_t position, int64_t k, int64_t stride, int64_t pad, int64_t size) {
  const int64_t scaled = position + pad - k;
  if (scaled < 0 || scaled % stride != 0) return -1;
  return scaled / stride < size ? scaled / stride : -1;
}

// dst[n][o][y][x] = bias[o] + sum_{c,i,j} src[n][c][y*S-P+i][x*S-P+j] * weights[o][c][i][j]
void convolution_forward(const ConvShape& s, const float* src, const float* weights, const float* bias,
                         float* dst) {
  const int64_t C = s.in_channels, H = s.in_height, W = s.in_width, OC = s.out_channels;
  const int64_t OH = s.out_height(), OW = s.out_width(), KH = s.kernel_h, KW = s.kernel_w;
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < OC; ++o)
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t x = 0; x < OW; ++x) {
          double sum = s.has_bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i) {
              const int64_t row = tap(y, i, s.stride_h, s.pad_h, H);
              for (int64_t j = 0; j < KW && row >= 0; ++j) {
                const int64_t col = tap(x, j, s.stride_w, s.pad_w, W);
                if (col >= 0)
                  sum += double(src[at(n, C, c, H, row, W, col)]) * weights[at(o, C, c, KH, i, KW, j)];
              }
            }
          dst[at(n, OC, o, OH, y, OW, x)] = static_cast<float>(sum);
        }
}

// diff_src[n][c][h][w] = sum over (o, i, j, y, x) with h = y*S-P+i, w = x*S-P+j of
//                        diff_dst[n][o][y][x] * weights[o][c][i][j]
void convolution_backward_data(const ConvShape& s, const float* diff_dst, const float* weights,
                               float* diff_src) {
  const int64_t C = s.in_channels, H = s.in_height, W = s.in_width, OC = s.out_channels;
  const int64_t OH = s.out_height(), OW = s.out_width(), KH = s.kernel_h, KW = s.kernel_w;
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          double sum = 0.0;
          for (int64_t o = 0; o < OC; ++o)
            for (int64_t i = 0; i < KH; ++i) {
              const int64_t y = untap(h, i, s.stride_h, s.pad_h, OH);
              for (int64_t j = 0; j < KW && y >= 0; ++j) {
                const int64_t x = untap(w, j, s.stride_w, s.pad_w, OW);
                if (x >= 0)
                  sum += double(diff_dst[at(n, OC, o, OH, y, OW, x)]) * weights[at(o, C, c, KH, i, KW, j)];
              }
            }
          diff_src[at(n, C, c, H, h, W, w)] = static_cast<float>(sum);
        }
}

// diff_weights[o][c][i][j] = sum_{n,y,x} diff_dst[n][o][y][x] * src[n][c][y*S-P+i][x*S-P+j]
void convolution_backward_weights(const ConvShape& s, const float* diff_dst, const float* src,
                                  float* diff_weights) {
  const int64_t C = s.in_channels, H = s.in_height, W = s.in_width, OC = s.out_channels;
  const int64_t OH = s.out_height(), OW = s.out_width(), KH = s.kernel_h, KW = s.kernel_w;
  for (int64_t o = 0; o < OC; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < KH; ++i)
        for (int64_t j = 0; j < KW; ++j) {
          double sum = 0.0;
          for (int64_t n = 0; n < s.batch; ++n)
            for (int64_t y = 0; y < OH; ++y) {
              const int64_t row = tap(y, i, s.stride_h, s.pad_h, H);
              for (int64_t x = 0; x < OW && row >= 0; ++x) {
                const int64_t col = tap(x, j, s.stride_w, s.pad_w, W);
                if (col >= 0)
                  sum += double(diff_dst[at(n, OC, o, OH, y, OW, x)]) * src[at(n, C, c, H, row, W, col)];
              }
            }
          diff_weights[at(o, C, c, KH, i, KW, j)] = static_cast<float>(sum);
        }
}

// Transposed: dst[n][o][h][w] = bias[o] + sum over (c, i, j, y, x) with h = y*S-P+i, w = x*S-P+j of
//                               src[n][c][y][x] * weights[c][o][i][j]
void transposed_forward(const ConvShape& s, const float* src, const float* weights, const float* bias,
                        float* dst) {
  const int64_t C = s.in_channels, H = s.in_height, W = s.in_width, OC = s.out_channels;
  const int64_t OH = s.out_height(), OW = s.out_width(), KH = s.kernel_h, KW = s.kernel_w;
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t o = 0; o < OC; ++o)
      for (int64_t h = 0; h < OH; ++h)
        for (int64_t w = 0; w < OW; ++w) {
          double sum = s.has_bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i) {
              const int64_t y = untap(h, i, s.stride_h, s.pad_h, H);
              for (int64_t j = 0; j < KW && y >= 0; ++j) {
                const int64_t x = untap(w, j, s.stride_w, s.pad_w, W);
                if (x >= 0) sum += double(src[at(n, C, c, H, y, W, x)]) * weights[at(c, OC, o, KH, i, KW, j)];
              }
            }
          dst[at(n, OC, o, OH, h, OW, w)] = static_cast<float>(sum);
        }
}

// Transposed: diff_src[n][c][y][x] = sum_{o,i,j} diff_dst[n][o][y*S-P+i][x*S-P+j] * weights[c][o][i][j]
void transposed_backward_data(const ConvShape& s, const float* diff_dst, const float* weights,
                              float* diff_src) {
  const int64_t C = s.in_channels, H = s.in_height, W = s.in_width, OC = s.out_channels;
  const int64_t OH = s.out_height(), OW = s.out_width(), KH = s.kernel_h, KW = s.kernel_w;
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          double sum = 0.0;
          for (int64_t o = 0; o < OC; ++o)
            for (int64_t i = 0; i < KH; ++i) {
              const int64_t h = tap(y, i, s.stride_h, s.pad_h, OH);
              for (int64_t j = 0; j < KW && h >= 0; ++j) {
                const int64_t w = tap(x, j, s.stride_w, s.pad_w, OW);
                if (w >= 0)
                  sum += double(diff_dst[at(n, OC, o, OH, h, OW, w)]) * weights[at(c, OC, o, KH, i, KW, j)];
              }
            }
          diff_src[at(n, C, c, H, y, W, x)] = static_cast<float>(sum);
        }
}

// Transposed: diff_weights[c][o][i][j] = sum_{n,y,x} diff_dst[n][o][y*S-P+i][x*S-P+j] * src[n][c][y][x]
void transposed_backward_weights(const ConvShape& s, const float* diff_dst, const float* src,
                                 float* diff_weights) {
  const int64_t C = s.in_channels, H = s.in_height, W = s.in_width, OC = s.out_channels;
  const int64_t OH = s.out_height(), OW = s.out_width(), KH = s.kernel_h, KW = s.kernel_w;
  for (int64_t o = 0; o < OC; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < KH; ++i)
        for (int64_t j = 0; j < KW; ++j) {
          double sum = 0.0;
          for (int64_t n = 0; n < s.batch; ++n)
            for (int64_t y = 0; y < H; ++y) {
              const int64_t h = tap(y, i, s.stride_h, s.pad_h, OH);
              for (int64_t x = 0; x < W && h >= 0; ++x) {
                const int64_t w = tap(x, j, s.stride_w, s.pad_w, OW);
                if (w >= 0)
                  sum += double(diff_dst[at(n, OC, o, OH, h, OW, w)]) * src[at(n, C, c, H, y, W, x)];
              }
            }
          diff_weights[at(c, OC, o, KH, i, KW, j)] = static_cast<float>(sum);
        }
}

// diff_bias[o] = sum_{n,y,x} diff_dst[n][o][y][x], the same for both kinds
void bias_backward(const ConvShape& s, const float* diff_dst, float* diff_bias) {
  const int64_t plane = s.out_height() * s.out_width();
  for (int64_t o = 0; o < s.out_channels; ++o) {
    double sum = 0.0;
    for (int64_t n = 0; n < s.batch; ++n) {
      const float* values = diff_dst + (n * s.out_channels + o) * plane;
      for (int64_t k = 0; k < plane; ++k) sum += values[k];
    }
    diff_bias[o] = static_cast<float>(sum);
  }
}

}  // namespace

void conv_forward(const ConvShape& s, const float* src, const float* weights, const float* bias, float* dst) {
  if (s.transposed)
    transposed_forward(s, src, weights, bias, dst);
  else
    convolution_forward(s, src, weights, bias, dst);
  if (s.activation != Activation::Linear)
    activation_forward(s.activation, s.batch, s.out_channels * s.out_height() * s.out_width(), dst, dst,
                       s.alpha);
}

void conv_backward_data(const ConvShape& s, const float* diff_dst, const float* weights, float* diff_src) {
  if (s.transposed)
    transposed_backward_data(s, diff_dst, weights, diff_src);
  else
    convolution_backward_data(s, diff_dst, weights, diff_src);
}

void conv_backward_weights(const ConvShape& s, const float* diff_dst, const float* src, float* diff_weights,
                           float* diff_bias) {
  if (s.transposed)
    transposed_backward_weights(s, diff_dst, src, diff_weights);
  else
    convolution_backward_weights(s, diff_dst, src, diff_weights);
  if (s.has_bias) bias_backward(s, diff_dst, diff_bias);
}

namespace {

// Calls visit(h, w) for each input position in output (y, x)'s window, in row-major order, padding skipped.
template <class Visit>
void for_each_in_window(const PoolShape& s, int64_t y, int64_t x, Visit&& visit) {
  for (int64_t i = 0; i < s.kernel_h; ++i) {
    const int64_t h = y * s.stride_h - s.pad_h + i;
    if (h < 0 || h >= s.in_height) continue;
    for (int64_t j = 0; j < s.kernel_w; ++j) {
      const int64_t w = x * s.stride_w - s.pad_w + j;
      if (w >= 0 && w < s.in_width) visit(h, w);
    }
  }
}

// The offset within a (H,W) plane of window (y, x)'s first maximum.
int64_t window_argmax(const PoolShape& s, const float* plane, int64_t y, int64_t x) {
  int64_t best = -1;
  for_each_in_window(s, y, x, [&](int64_t h, int64_t w) {
    const int64_t k = h * s.in_width + w;
    if (best < 0 || plane[k] > plane[best]) best = k;
  });
  return best;
}

int64_t window_count(const PoolShape& s, int64_t y, int64_t x) {
  int64_t count = 0;
  for_each_in_window(s, y, x, [&](int64_t, int64_t) { ++count; });
  return count;
}

}  // namespace

// max: dst = max over the window; average: dst = sum over the window / its number of inputs
void pool_forward(const PoolShape& s, const float* src, float* dst) {
  const int64_t OH = s.out_height(), OW = s.out_width(), in_plane = s.in_height * s.in_width;
  for (int64_t plane = 0; plane < s.batch * s.channels; ++plane) {
    const float* in = src + plane * in_plane;
    float* out = dst + plane * OH * OW;
    for (int64_t y = 0; y < OH; ++y)
      for (int64_t x = 0; x < OW; ++x) {
        if (s.max) {
          out[y * OW + x] = in[window_argmax(s, in, y, x)];
          continue;
        }
        double sum = 0.0;
        for_each_in_window(s, y, x, [&](int64_t h, int64_t w) { sum += in[h * s.in_width + w]; });
        out[y * OW + x] = static_cast<float>(sum / window_count(s, y, x));
      }
  }
}

// max: diff_src[argmax of window] += diff_dst; average: diff_src[each input] += diff_dst / window count
void pool_backward(const PoolShape& s, const float* diff_dst, const float* src, float* diff_src) {
  const int64_t OH = s.out_height(), OW = s.out_width(), in_plane = s.in_height * s.in_width;
  std::vector<double> sums(in_plane);
  for (int64_t plane = 0; plane < s.batch * s.channels; ++plane) {
    const float* in = s.max ? src + plane * in_plane : nullptr;  // src may be null for average pooling
    const float* diff_out = diff_dst + plane * OH * OW;
    std::fill(sums.begin(), sums.end(), 0.0);
    for (int64_t y = 0; y < OH; ++y)
      for (int64_t x = 0; x < OW; ++x) {
        const double gradient = diff_out[y * OW + x];
        if (s.max) {
          sums[window_argmax(s, in, y, x)] += gradient;
          continue;
        }
        const double share = gradient / window_count(s, y, x);
        for_each_in_window(s, y, x, [&](int64_t h, int64_t w) { sums[h * s.in_width + w] += share; });
      }
    for (int64_t k = 0; k < in_plane; ++k) diff_src[plane * in_plane + k] = static_cast<float>(sums[k]);
  }
}

}  // namespace reference
}  // namespace hg
