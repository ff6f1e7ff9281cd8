// Elementwise activations and row-wise softmax. Most backward passes use the forward's dst (not src), which
// is all linear, relu, leaky_relu, elu, sigmoid, tanh and softmax need, so src buffers can be freed early;
// gelu, silu and softplus are not invertible from dst (or not exactly), so their backward reads src too.
//   forward:  dst = f(src)                                  src, dst: n elements (softmax: rows x cols)
//   backward: diff_src = diff_dst * f'(from dst, or src where needs_src_for_backward)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hg {

// New kinds go at the end: the values are not saved anywhere, but the order is the one `check` lists.
enum class Activation { Linear, Relu, Sigmoid, Tanh, Softmax, LeakyRelu, Elu, Gelu, Silu, Softplus };

const char* activation_name(Activation a);
// Elementwise (all but linear and softmax): can be fused into the op that produces its src.
bool is_elementwise(Activation a);
// gelu, silu, softplus: the backward pass reads the forward's src as well as its dst.
bool needs_src_for_backward(Activation a);
bool parse_activation(const std::string& name, Activation* out);

class ActivationKernels {
 public:
  // rows = batch, cols = features; softmax normalizes each row. alpha: leaky_relu's negative slope, elu's
  // scale of the negative part (both >= 0, so that the backward can read dst); ignored by the rest.
  ActivationKernels(Activation kind, int64_t rows, int64_t cols, float alpha = 0);
  ~ActivationKernels();
  ActivationKernels(const ActivationKernels&) = delete;
  ActivationKernels& operator=(const ActivationKernels&) = delete;

  void forward(const float* src, float* dst);
  // src may be null unless needs_src_for_backward(kind).
  void backward(const float* diff_dst, const float* dst, float* diff_src, const float* src = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace reference {
void activation_forward(Activation kind, int64_t rows, int64_t cols, const float* src, float* dst,
                        float alpha = 0);
void activation_backward(Activation kind, int64_t rows, int64_t cols, const float* diff_dst, const float* dst,
                         float* diff_src, float alpha = 0, const float* src = nullptr);
}  // namespace reference

}  // namespace hg
