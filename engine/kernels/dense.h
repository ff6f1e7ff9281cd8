// The dense (fully connected) op on oneDNN matmul, with primitives created once per node and shape.
// Legend: N = batch, K = input features, M = output features.
//   forward:          f(src (N,K) x weights^T + bias (M)) -> dst (N,M), f an optional fused activation
//   backward data:    diff_dst (N,M) x weights           -> diff_src (N,K)
//   backward weights: diff_dst^T (M,N) x src (N,K)       -> diff_weights, in the weights' own layout
//   backward bias:    sum over N of diff_dst             -> diff_bias (M)
// Under bf16, the weights' bf16 copy is made by forward and read by backward data, so the weights may not
// change between the two (the plan updates a parameter only after its last reader).
// Weights are stored (M,K) row-major, as PyTorch's Linear.weight. A tied (transposed) dense reads another
// node's weights, stored (K,M) row-major, without copying them.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/activation.h"

namespace hg {

struct DenseShape {
  int64_t batch = 0, in = 0, out = 0;
  bool transposed_weights = false;  // weights buffer is (K,M) row-major (tied to an encoder)
  bool has_bias = true;
  // Applied to forward's dst in the same pass as the GEMM (a oneDNN post-op); any elementwise activation.
  Activation fused_activation = Activation::Linear;
  float activation_alpha = 0;  // leaky_relu's and elu's alpha
  // `precision = bf16`: the three GEMMs read bf16 copies of their operands (src, weights, diff_dst), made
  // in the same step from the f32 values, and write f32 (dst, diff_src, diff_weights), accumulating in
  // f32. The bias, the activation and the bias gradient stay f32. Needs native bf16 (bf16_unavailable()).
  bool bf16 = false;
};

class DenseKernels {
 public:
  explicit DenseKernels(const DenseShape& shape);  // creates every primitive; throws on failure
  ~DenseKernels();
  DenseKernels(const DenseKernels&) = delete;
  DenseKernels& operator=(const DenseKernels&) = delete;

  const DenseShape& shape() const;
  // None of these allocate or create primitives.
  // Under bf16, `weights_bf16` may give the weights' bf16 copy (ParameterStore::bf16_values), which spares
  // converting them; backward_data then reads it too.
  void forward(const float* src, const float* weights, const float* bias, float* dst,
               const uint16_t* weights_bf16 = nullptr);
  void backward_data(const float* diff_dst, const float* weights, float* diff_src);
  // accumulate: add into diff_weights / diff_bias instead of overwriting (tied weights get two gradients).
  void backward_weights(const float* diff_dst, const float* src, float* diff_weights, bool accumulate);
  void backward_bias(const float* diff_dst, float* diff_bias, bool accumulate);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace reference {
// Plain loops with the same contracts, for tests (forward applies the fused activation too).
void dense_forward(const DenseShape& s, const float* src, const float* weights, const float* bias,
                   float* dst);
void dense_backward_data(const DenseShape& s, const float* diff_dst, const float* weights, float* diff_src);
void dense_backward_weights(const DenseShape& s, const float* diff_dst, const float* src, float* diff_weights,
                            bool accumulate);
void dense_backward_bias(const DenseShape& s, const float* diff_dst, float* diff_bias, bool accumulate);
}  // namespace reference

}  // namespace hg
