// Activation kernels on oneDNN: eltwise (relu with its leaky alpha, elu, logistic, tanh) in their
// *_use_dst_for_bwd forms so that backward reads only dst; gelu (erf, as PyTorch's default), swish with
// alpha 1 (silu) and soft_relu (softplus), whose backward reads src; and softmax along axis 1. Linear is a
// copy. Primitives are created once.
#include "kernels/activation.h"

#include <cstring>
#include <stdexcept>

#include "kernels/dnnl_context.h"

namespace hg {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

struct ActivationInfo {
  Activation kind;
  const char* name;
  algorithm eltwise;  // undef for linear and softmax
  bool uses_src;      // the backward primitive reads src, not dst
};

const ActivationInfo kActivations[] = {
    {Activation::Linear, "linear", algorithm::undef, false},
    {Activation::Relu, "relu", algorithm::eltwise_relu_use_dst_for_bwd, false},
    {Activation::Sigmoid, "sigmoid", algorithm::eltwise_logistic_use_dst_for_bwd, false},
    {Activation::Tanh, "tanh", algorithm::eltwise_tanh_use_dst_for_bwd, false},
    {Activation::Softmax, "softmax", algorithm::undef, false},
    {Activation::LeakyRelu, "leaky_relu", algorithm::eltwise_relu_use_dst_for_bwd, false},
    {Activation::Elu, "elu", algorithm::eltwise_elu_use_dst_for_bwd, false},
    {Activation::Gelu, "gelu", algorithm::eltwise_gelu_erf, true},
    {Activation::Silu, "silu", algorithm::eltwise_swish, true},
    {Activation::Softplus, "softplus", algorithm::eltwise_soft_relu, true},
};

const ActivationInfo& info(Activation kind) {
  for (const ActivationInfo& a : kActivations)
    if (a.kind == kind) return a;
  throw std::logic_error("unknown Activation value " + std::to_string(static_cast<int>(kind)));
}

// Forward: src -> dst. Backward: (dst or src, diff_dst) -> diff_src; the forward pd is the backward's hint.
void make_eltwise(const ActivationInfo& activation, float alpha, const memory::desc& data,
                  BoundPrimitive* forward, BoundPrimitive* backward) {
  const algorithm alg = activation.eltwise;
  const dnnl::engine& engine = dnnl_cpu_engine();
  const dnnl::primitive_attr attributes = default_attributes();
  dnnl::eltwise_forward::primitive_desc forward_pd(
      dnnl::eltwise_forward::desc(prop_kind::forward_training, alg, data, alpha, 0.f), attributes, engine);
  dnnl::eltwise_backward::primitive_desc backward_pd(
      dnnl::eltwise_backward::desc(alg, data, data, alpha, 0.f), attributes, engine, forward_pd);
  *forward = BoundPrimitive(forward_pd);
  forward->add_argument(DNNL_ARG_SRC, data);
  forward->add_argument(DNNL_ARG_DST, data);
  *backward = BoundPrimitive(backward_pd);
  backward->add_argument(activation.uses_src ? DNNL_ARG_SRC : DNNL_ARG_DST, data);
  backward->add_argument(DNNL_ARG_DIFF_DST, data);
  backward->add_argument(DNNL_ARG_DIFF_SRC, data);
}

void make_softmax(const memory::desc& data, BoundPrimitive* forward, BoundPrimitive* backward) {
  const dnnl::engine& engine = dnnl_cpu_engine();
  const dnnl::primitive_attr attributes = default_attributes();
  dnnl::softmax_forward::primitive_desc forward_pd(
      dnnl::softmax_forward::desc(prop_kind::forward_training, data, 1), attributes, engine);
  dnnl::softmax_backward::primitive_desc backward_pd(dnnl::softmax_backward::desc(data, data, 1), attributes,
                                                     engine, forward_pd);
  *forward = BoundPrimitive(forward_pd);
  forward->add_argument(DNNL_ARG_SRC, data);
  forward->add_argument(DNNL_ARG_DST, data);
  *backward = BoundPrimitive(backward_pd);
  backward->add_argument(DNNL_ARG_DST, data);
  backward->add_argument(DNNL_ARG_DIFF_DST, data);
  backward->add_argument(DNNL_ARG_DIFF_SRC, data);
}

}  // namespace

const char* activation_name(Activation a) {
  return info(a).name;
}

bool is_elementwise(Activation a) {
  return a != Activation::Linear && a != Activation::Softmax;
}

bool needs_src_for_backward(Activation a) {
  return info(a).uses_src;
}

bool parse_activation(const std::string& name, Activation* out) {
  for (const ActivationInfo& a : kActivations) {
    if (name != a.name) continue;
    *out = a.kind;
    return true;
  }
  return false;
}

struct ActivationKernels::Impl {
  Activation kind;
  size_t bytes;  // rows * cols floats, for linear's copies
  BoundPrimitive forward, backward;
};

ActivationKernels::ActivationKernels(Activation kind, int64_t rows, int64_t cols, float alpha)
    : impl_(new Impl{kind, static_cast<size_t>(rows * cols) * sizeof(float), {}, {}}) {
  const std::string shape = "(" + std::to_string(rows) + "," + std::to_string(cols) + ")";
  if (rows < 1 || cols < 1)
    throw std::runtime_error(std::string(info(kind).name) + ": invalid shape " + shape);
  if (kind == Activation::Linear) return;
  if (alpha < 0)  // the use_dst_for_bwd forms need dst > 0 exactly where src > 0
    throw std::runtime_error(std::string(info(kind).name) + ": alpha must be at least 0, got " +
                             std::to_string(alpha));
  // silu is swish with beta 1; the other algorithms take no alpha.
  if (kind == Activation::Silu) alpha = 1;
  if (kind != Activation::LeakyRelu && kind != Activation::Elu && kind != Activation::Silu) alpha = 0;
  const memory::desc data({rows, cols}, memory::data_type::f32, memory::format_tag::ab);
  try {
    if (kind == Activation::Softmax)
      make_softmax(data, &impl_->forward, &impl_->backward);
    else
      make_eltwise(info(kind), alpha, data, &impl_->forward, &impl_->backward);
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string(info(kind).name) +
                             ": cannot create the oneDNN primitives for shape " + shape + ": " + e.what());
  }
}

ActivationKernels::~ActivationKernels() = default;

void ActivationKernels::forward(const float* src, float* dst) {
  if (impl_->kind == Activation::Linear) {
    if (src != dst) std::memcpy(dst, src, impl_->bytes);
    return;
  }
  impl_->forward.bind(DNNL_ARG_SRC, src);
  impl_->forward.bind(DNNL_ARG_DST, dst);
  impl_->forward.execute();
}

void ActivationKernels::backward(const float* diff_dst, const float* dst, float* diff_src, const float* src) {
  if (impl_->kind == Activation::Linear) {
    if (diff_dst != diff_src) std::memcpy(diff_src, diff_dst, impl_->bytes);
    return;
  }
  if (needs_src_for_backward(impl_->kind)) {
    if (!src)
      throw std::logic_error(std::string(info(impl_->kind).name) + ": backward needs the forward's src");
    impl_->backward.bind(DNNL_ARG_SRC, src);
  } else {
    impl_->backward.bind(DNNL_ARG_DST, dst);
  }
  impl_->backward.bind(DNNL_ARG_DIFF_DST, diff_dst);
  impl_->backward.bind(DNNL_ARG_DIFF_SRC, diff_src);
  impl_->backward.execute();
}

}  // namespace hg
