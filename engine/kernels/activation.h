// Elementwise activations and row-wise softmax. Backward passes use the forward's dst (not src), which is
// all relu, sigmoid, tanh and softmax need, so src buffers can be freed early.
//   forward:  dst = f(src)                                  src, dst: n elements (softmax: rows x cols)
//   backward: diff_src = diff_dst * f'(from dst)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hg {

enum class Activation { Linear, Relu, Sigmoid, Tanh, Softmax };

const char* activation_name(Activation a);
// Elementwise (relu, sigmoid, tanh): can be fused into the op that produces its src.
bool is_elementwise(Activation a);
bool parse_activation(const std::string& name, Activation* out);

class ActivationKernels {
 public:
  // rows = batch, cols = features; softmax normalizes each row.
  ActivationKernels(Activation kind, int64_t rows, int64_t cols);
  ~ActivationKernels();
  ActivationKernels(const ActivationKernels&) = delete;
  ActivationKernels& operator=(const ActivationKernels&) = delete;

  void forward(const float* src, float* dst);
  void backward(const float* diff_dst, const float* dst, float* diff_src);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace reference {
void activation_forward(Activation kind, int64_t rows, int64_t cols, const float* src, float* dst);
void activation_backward(Activation kind, int64_t rows, int64_t cols, const float* diff_dst, const float* dst,
                         float* diff_src);
}  // namespace reference

}  // namespace hg
