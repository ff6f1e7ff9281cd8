// Reference kernels: plain loops with the same contracts as the oneDNN kernels, accumulating in double.
// Tests compare the fast kernels against these, and check these against finite differences.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/activation.h"
#include "kernels/bf16.h"
#include "kernels/dense.h"

namespace hg {
namespace reference {
namespace {

// Index of weights(m, k) in the buffer, for either storage of the (M,K) weight matrix.
inline int64_t weight_index(const DenseShape& s, int64_t m, int64_t k) {
  return s.transposed_weights ? k * s.out + m : m * s.in + k;
}

// A GEMM operand as the kernel sees it: rounded to bf16 under `precision = bf16` (DenseShape::bf16), as is
// otherwise. Products and sums stay exact-ish (double) here; only the operands lose bits.
inline double operand(const DenseShape& s, float value) {
  return s.bf16 ? double(round_to_bf16(value)) : double(value);
}

}  // namespace

// dst[n][m] = f(bias[m] + sum_k src[n][k] * weights(m, k)), f the fused activation (identity by default)
void dense_forward(const DenseShape& s, const float* src, const float* weights, const float* bias,
                   float* dst) {
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t m = 0; m < s.out; ++m) {
      double sum = s.has_bias ? bias[m] : 0.0;
      for (int64_t k = 0; k < s.in; ++k)
        sum += operand(s, src[n * s.in + k]) * operand(s, weights[weight_index(s, m, k)]);
      dst[n * s.out + m] = static_cast<float>(sum);
    }
  if (s.fused_activation != Activation::Linear)
    activation_forward(s.fused_activation, s.batch, s.out, dst, dst, s.activation_alpha);
}

// diff_src[n][k] = sum_m diff_dst[n][m] * weights(m, k)
void dense_backward_data(const DenseShape& s, const float* diff_dst, const float* weights, float* diff_src) {
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t k = 0; k < s.in; ++k) {
      double sum = 0.0;
      for (int64_t m = 0; m < s.out; ++m)
        sum += operand(s, diff_dst[n * s.out + m]) * operand(s, weights[weight_index(s, m, k)]);
      diff_src[n * s.in + k] = static_cast<float>(sum);
    }
}

// diff_weights(m, k) (+)= sum_n diff_dst[n][m] * src[n][k], stored like the weights
void dense_backward_weights(const DenseShape& s, const float* diff_dst, const float* src, float* diff_weights,
                            bool accumulate) {
  for (int64_t m = 0; m < s.out; ++m)
    for (int64_t k = 0; k < s.in; ++k) {
      float& out = diff_weights[weight_index(s, m, k)];
      double sum = accumulate ? out : 0.0;
      for (int64_t n = 0; n < s.batch; ++n)
        sum += operand(s, diff_dst[n * s.out + m]) * operand(s, src[n * s.in + k]);
      out = static_cast<float>(sum);
    }
}

// diff_bias[m] (+)= sum_n diff_dst[n][m]
void dense_backward_bias(const DenseShape& s, const float* diff_dst, float* diff_bias, bool accumulate) {
  for (int64_t m = 0; m < s.out; ++m) {
    double sum = accumulate ? diff_bias[m] : 0.0;
    for (int64_t n = 0; n < s.batch; ++n) sum += diff_dst[n * s.out + m];
    diff_bias[m] = static_cast<float>(sum);
  }
}

namespace {

// softmax(x)_j = exp(x_j - max x) / sum_i exp(x_i - max x), one row
void softmax_row(int64_t cols, const float* src, float* dst) {
  const float max = *std::max_element(src, src + cols);
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) sum += std::exp(double(src[j]) - max);
  for (int64_t j = 0; j < cols; ++j) dst[j] = static_cast<float>(std::exp(double(src[j]) - max) / sum);
}

// d softmax: diff_src_j = y_j * (diff_dst_j - sum_i diff_dst_i * y_i), one row
void softmax_backward_row(int64_t cols, const float* diff_dst, const float* dst, float* diff_src) {
  double dot = 0.0;
  for (int64_t j = 0; j < cols; ++j) dot += double(diff_dst[j]) * dst[j];
  for (int64_t j = 0; j < cols; ++j) diff_src[j] = static_cast<float>(dst[j] * (diff_dst[j] - dot));
}

}  // namespace

void activation_forward(Activation kind, int64_t rows, int64_t cols, const float* src, float* dst,
                        float alpha) {
  const int64_t n = rows * cols;
  switch (kind) {
    case Activation::Linear:
      std::memmove(dst, src, n * sizeof(float));
      return;
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i] > 0.f ? src[i] : 0.f;
      return;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double(src[i]))));
      return;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(std::tanh(double(src[i])));
      return;
    case Activation::Softmax:
      for (int64_t r = 0; r < rows; ++r) softmax_row(cols, src + r * cols, dst + r * cols);
      return;
    case Activation::LeakyRelu:
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i] > 0.f ? src[i] : alpha * src[i];
      return;
    case Activation::Elu:
      for (int64_t i = 0; i < n; ++i)
        dst[i] = src[i] > 0.f ? src[i] : static_cast<float>(alpha * std::expm1(double(src[i])));
      return;
    case Activation::Gelu:  // x * Phi(x), Phi the standard normal CDF
      for (int64_t i = 0; i < n; ++i)
        dst[i] = static_cast<float>(src[i] * 0.5 * std::erfc(-src[i] / std::sqrt(2.0)));
      return;
    case Activation::Silu:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i] / (1.0 + std::exp(-double(src[i]))));
      return;
    case Activation::Softplus:  // log(1 + e^x), without overflow for large x
      for (int64_t i = 0; i < n; ++i) {
        const double x = src[i];
        dst[i] = static_cast<float>(std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))));
      }
      return;
  }
  throw std::logic_error("reference::activation_forward: unknown activation");
}

// Derivatives from dst: relu' = [y > 0], leaky_relu' = [y > 0] or alpha, elu' = [y > 0] or y + alpha,
// sigmoid' = y (1 - y), tanh' = 1 - y^2. From src: gelu' = Phi(x) + x phi(x), silu' = s (1 + x (1 - s)) with
// s = sigmoid(x), softplus' = sigmoid(x).
void activation_backward(Activation kind, int64_t rows, int64_t cols, const float* diff_dst, const float* dst,
                         float* diff_src, float alpha, const float* src) {
  if (needs_src_for_backward(kind) && !src)
    throw std::logic_error(std::string("reference::activation_backward: ") + activation_name(kind) +
                           " needs src");
  const int64_t n = rows * cols;
  switch (kind) {
    case Activation::Linear:
      std::memmove(diff_src, diff_dst, n * sizeof(float));
      return;
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) diff_src[i] = dst[i] > 0.f ? diff_dst[i] : 0.f;
      return;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) diff_src[i] = diff_dst[i] * dst[i] * (1.f - dst[i]);
      return;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) diff_src[i] = diff_dst[i] * (1.f - dst[i] * dst[i]);
      return;
    case Activation::Softmax:
      for (int64_t r = 0; r < rows; ++r)
        softmax_backward_row(cols, diff_dst + r * cols, dst + r * cols, diff_src + r * cols);
      return;
    case Activation::LeakyRelu:
      for (int64_t i = 0; i < n; ++i) diff_src[i] = dst[i] > 0.f ? diff_dst[i] : alpha * diff_dst[i];
      return;
    case Activation::Elu:
      for (int64_t i = 0; i < n; ++i)
        diff_src[i] = dst[i] > 0.f ? diff_dst[i] : diff_dst[i] * (dst[i] + alpha);
      return;
    case Activation::Gelu:
      for (int64_t i = 0; i < n; ++i) {
        const double x = src[i];
        const double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0)),
                     pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
        diff_src[i] = static_cast<float>(diff_dst[i] * (cdf + x * pdf));
      }
      return;
    case Activation::Silu:
      for (int64_t i = 0; i < n; ++i) {
        const double x = src[i], s = 1.0 / (1.0 + std::exp(-x));
        diff_src[i] = static_cast<float>(diff_dst[i] * s * (1.0 + x * (1.0 - s)));
      }
      return;
    case Activation::Softplus:
      for (int64_t i = 0; i < n; ++i)
        diff_src[i] = static_cast<float>(diff_dst[i] / (1.0 + std::exp(-double(src[i]))));
      return;
  }
  throw std::logic_error("reference::activation_backward: unknown activation");
}

}  // namespace reference
}  // namespace hg
