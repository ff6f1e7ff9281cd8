// Activation kernels on oneDNN: eltwise (relu, logistic, tanh) in their *_use_dst_for_bwd forms so that
// backward reads only dst, and softmax along axis 1. Linear is a copy. Primitives are created once.
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
};

const ActivationInfo kActivations[] = {
    {Activation::Linear, "linear", algorithm::undef},
    {Activation::Relu, "relu", algorithm::eltwise_relu_use_dst_for_bwd},
    {Activation::Sigmoid, "sigmoid", algorithm::eltwise_logistic_use_dst_for_bwd},
    {Activation::Tanh, "tanh", algorithm::eltwise_tanh_use_dst_for_bwd},
    {Activation::Softmax, "softmax", algorithm::undef},
};

const ActivationInfo& info(Activation kind) {
  for (const ActivationInfo& a : kActivations)
    if (a.kind == kind) return a;
  throw std::logic_error("unknown Activation value " + std::to_string(static_cast<int>(kind)));
}

// Forward: src -> dst. Backward: (dst, diff_dst) -> diff_src; the forward pd is the backward's hint.
void make_eltwise(algorithm alg, const memory::desc& data, BoundPrimitive* forward,
                  BoundPrimitive* backward) {
  const dnnl::engine& engine = dnnl_cpu_engine();
  const dnnl::primitive_attr attributes = default_attributes();
  dnnl::eltwise_forward::primitive_desc forward_pd(
      dnnl::eltwise_forward::desc(prop_kind::forward_training, alg, data, 0.f, 0.f), attributes, engine);
  dnnl::eltwise_backward::primitive_desc backward_pd(dnnl::eltwise_backward::desc(alg, data, data, 0.f, 0.f),
                                                     attributes, engine, forward_pd);
  *forward = BoundPrimitive(forward_pd);
  forward->add_argument(DNNL_ARG_SRC, data);
  forward->add_argument(DNNL_ARG_DST, data);
  *backward = BoundPrimitive(backward_pd);
  backward->add_argument(DNNL_ARG_DST, data);
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
  return a == Activation::Relu || a == Activation::Sigmoid || a == Activation::Tanh;
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

ActivationKernels::ActivationKernels(Activation kind, int64_t rows, int64_t cols)
    : impl_(new Impl{kind, static_cast<size_t>(rows * cols) * sizeof(float), {}, {}}) {
  const std::string shape = "(" + std::to_string(rows) + "," + std::to_string(cols) + ")";
  if (rows < 1 || cols < 1)
    throw std::runtime_error(std::string(info(kind).name) + ": invalid shape " + shape);
  if (kind == Activation::Linear) return;
  const memory::desc data({rows, cols}, memory::data_type::f32, memory::format_tag::ab);
  try {
    if (kind == Activation::Softmax)
      make_softmax(data, &impl_->forward, &impl_->backward);
    else
      make_eltwise(info(kind).eltwise, data, &impl_->forward, &impl_->backward);
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

void ActivationKernels::backward(const float* diff_dst, const float* dst, float* diff_src) {
  if (impl_->kind == Activation::Linear) {
    if (diff_dst != diff_src) std::memcpy(diff_src, diff_dst, impl_->bytes);
    return;
  }
  impl_->backward.bind(DNNL_ARG_DST, dst);
  impl_->backward.bind(DNNL_ARG_DIFF_DST, diff_dst);
  impl_->backward.bind(DNNL_ARG_DIFF_SRC, diff_src);
  impl_->backward.execute();
}

}  // namespace hg
