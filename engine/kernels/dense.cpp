// The dense op's oneDNN kernels: four matmul primitives (forward, backward data, backward weights with and
// without accumulation) created once, plus a deterministic column-sum for the bias gradient.
// Transposes are strided memory descriptors over the caller's buffers, never copies.
#include "kernels/dense.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/dnnl_context.h"
#include "kernels/threading.h"

namespace hg {
namespace {

using dnnl::memory;

// A logical (rows, cols) f32 matrix over a row-major buffer that holds it as is, or (stored_transposed)
// holds its transpose, i.e. is (cols, rows) row-major.
memory::desc matrix(int64_t rows, int64_t cols, bool stored_transposed,
                    memory::data_type type = memory::data_type::f32) {
  const memory::dims strides = stored_transposed ? memory::dims{1, rows} : memory::dims{cols, 1};
  return memory::desc({rows, cols}, type, strides);
}

std::string describe(const DenseShape& s) {
  return "N=" + std::to_string(s.batch) + ", K=" + std::to_string(s.in) + ", M=" + std::to_string(s.out) +
         ", weights stored " + (s.transposed_weights ? "(K,M)" : "(M,K)") +
         (s.has_bias ? ", with bias" : "") + (s.bf16 ? ", bf16 operands" : "") +
         (s.fused_activation != Activation::Linear
              ? std::string(", then ") + activation_name(s.fused_activation)
              : "");
}

// f(src x weights (+ bias)) -> dst, f an optional activation post-op; or accumulated into dst (sum post-op).
BoundPrimitive make_matmul(const memory::desc& src, const memory::desc& weights, const memory::desc* bias,
                           const memory::desc& dst, bool accumulate,
                           Activation activation = Activation::Linear, float alpha = 0) {
  dnnl::primitive_attr attributes = default_attributes();
  dnnl::post_ops ops;
  if (accumulate) ops.append_sum(1.0f);
  append_activation(ops, activation, alpha);
  if (ops.len() > 0) attributes.set_post_ops(ops);
  const dnnl::matmul::desc desc =
      bias ? dnnl::matmul::desc(src, weights, *bias, dst) : dnnl::matmul::desc(src, weights, dst);
  BoundPrimitive matmul(dnnl::matmul::primitive_desc(desc, attributes, dnnl_cpu_engine()));
  matmul.add_argument(DNNL_ARG_SRC, src);
  matmul.add_argument(DNNL_ARG_WEIGHTS, weights);
  if (bias) matmul.add_argument(DNNL_ARG_BIAS, *bias);
  matmul.add_argument(DNNL_ARG_DST, dst);
  return matmul;
}

}  // namespace

struct DenseKernels::Impl {
  DenseShape shape;
  BoundPrimitive forward, backward_data, backward_weights, backward_weights_accumulate;
  // bf16 copies of the operands (empty in f32): src and weights made by forward, diff_dst by each backward
  // GEMM for itself, so that the two may run concurrently.
  std::vector<uint16_t> src, weights, diff_dst_data, diff_dst_weights;
  const uint16_t* weights_bf16 = nullptr;  // what the last forward read: `weights`, or the caller's copy
};

DenseKernels::DenseKernels(const DenseShape& shape)
    : impl_(new Impl{shape, {}, {}, {}, {}, {}, {}, {}, {}, nullptr}) {
  const int64_t N = shape.batch, K = shape.in, M = shape.out;
  const bool tied = shape.transposed_weights;
  if (N < 1 || K < 1 || M < 1) throw std::runtime_error("dense: invalid shape (" + describe(shape) + ")");
  const memory::data_type in = shape.bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  if (shape.bf16) {
    impl_->src.resize(size_t(N * K));
    impl_->weights.resize(size_t(M * K));
    impl_->diff_dst_data.resize(size_t(N * M));
    impl_->diff_dst_weights.resize(size_t(N * M));
  }
  const char* op = "forward";
  try {
    // src (N,K) x weights^T (K,M) + bias (1,M) -> dst (N,M). (M,K) storage holds weights^T transposed.
    const memory::desc bias = matrix(1, M, false);
    impl_->forward =
        make_matmul(matrix(N, K, false, in), matrix(K, M, !tied, in), shape.has_bias ? &bias : nullptr,
                    matrix(N, M, false), false, shape.fused_activation, shape.activation_alpha);
    // diff_dst (N,M) x weights (M,K) -> diff_src (N,K). (K,M) storage holds weights transposed.
    op = "backward data";
    impl_->backward_data =
        make_matmul(matrix(N, M, false, in), matrix(M, K, tied, in), nullptr, matrix(N, K, false), false);
    // (M,K) storage: diff_dst^T (M,N) x src (N,K) -> diff_weights (M,K).
    // (K,M) storage: src^T (K,N) x diff_dst (N,M) -> diff_weights (K,M), the same numbers transposed.
    op = "backward weights";
    const memory::desc lhs = tied ? matrix(K, N, true, in) : matrix(M, N, true, in);
    const memory::desc rhs = tied ? matrix(N, M, false, in) : matrix(N, K, false, in);
    const memory::desc diff_weights = tied ? matrix(K, M, false) : matrix(M, K, false);
    impl_->backward_weights = make_matmul(lhs, rhs, nullptr, diff_weights, false);
    impl_->backward_weights_accumulate = make_matmul(lhs, rhs, nullptr, diff_weights, true);
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string("dense: cannot create the oneDNN matmul for ") + op + " (" +
                             describe(shape) + "): " + e.what());
  }
}

DenseKernels::~DenseKernels() = default;

const DenseShape& DenseKernels::shape() const {
  return impl_->shape;
}

void DenseKernels::forward(const float* src, const float* weights, const float* bias, float* dst,
                           const uint16_t* weights_bf16) {
  BoundPrimitive& matmul = impl_->forward;
  const DenseShape& s = impl_->shape;
  if (s.bf16) {
    convert_to_bf16(src, impl_->src.data(), s.batch * s.in);
    if (!weights_bf16) {
      convert_to_bf16(weights, impl_->weights.data(), s.out * s.in);
      weights_bf16 = impl_->weights.data();
    }
    impl_->weights_bf16 = weights_bf16;
    matmul.bind(DNNL_ARG_SRC, impl_->src.data());
    matmul.bind(DNNL_ARG_WEIGHTS, weights_bf16);
  } else {
    matmul.bind(DNNL_ARG_SRC, src);
    matmul.bind(DNNL_ARG_WEIGHTS, weights);
  }
  if (impl_->shape.has_bias) matmul.bind(DNNL_ARG_BIAS, bias);
  matmul.bind(DNNL_ARG_DST, dst);
  matmul.execute();
}

void DenseKernels::backward_data(const float* diff_dst, const float* weights, float* diff_src) {
  BoundPrimitive& matmul = impl_->backward_data;
  const DenseShape& s = impl_->shape;
  if (s.bf16) {  // the weights' bf16 copy is forward's
    convert_to_bf16(diff_dst, impl_->diff_dst_data.data(), s.batch * s.out);
    matmul.bind(DNNL_ARG_SRC, impl_->diff_dst_data.data());
    matmul.bind(DNNL_ARG_WEIGHTS, impl_->weights_bf16);
  } else {
    matmul.bind(DNNL_ARG_SRC, diff_dst);
    matmul.bind(DNNL_ARG_WEIGHTS, weights);
  }
  matmul.bind(DNNL_ARG_DST, diff_src);
  matmul.execute();
}

void DenseKernels::backward_weights(const float* diff_dst, const float* src, float* diff_weights,
                                    bool accumulate) {
  BoundPrimitive& matmul = accumulate ? impl_->backward_weights_accumulate : impl_->backward_weights;
  const DenseShape& s = impl_->shape;
  const bool tied = s.transposed_weights;  // operand order as in the constructor
  const void* a = diff_dst;
  const void* b = src;
  if (s.bf16) {  // src's bf16 copy is forward's
    convert_to_bf16(diff_dst, impl_->diff_dst_weights.data(), s.batch * s.out);
    a = impl_->diff_dst_weights.data();
    b = impl_->src.data();
  }
  matmul.bind(DNNL_ARG_SRC, tied ? b : a);
  matmul.bind(DNNL_ARG_WEIGHTS, tied ? a : b);
  matmul.bind(DNNL_ARG_DST, diff_weights);
  matmul.execute();
}

// diff_bias (M) = sum over rows of diff_dst (N,M). Each thread owns a block of columns and walks the rows in
// order, so the sum is the same on any thread count and reads diff_dst row by row.
void DenseKernels::backward_bias(const float* diff_dst, float* diff_bias, bool accumulate) {
  const int64_t N = impl_->shape.batch, M = impl_->shape.out;
  constexpr int64_t kBlock = 64;
  const int64_t grain = N * M < (1 << 15) ? M : kBlock;  // small tensors: one chunk, no parallel region
  parallel_for(0, M, grain, [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; block += kBlock) {
      const int64_t width = std::min(kBlock, end - block);
      double sums[kBlock] = {};
      for (int64_t n = 0; n < N; ++n) {
        const float* row = diff_dst + n * M + block;
        for (int64_t j = 0; j < width; ++j) sums[j] += row[j];
      }
      for (int64_t j = 0; j < width; ++j)
        diff_bias[block + j] = static_cast<float>(accumulate ? diff_bias[block + j] + sums[j] : sums[j]);
    }
  });
}

}  // namespace hg
