// The conv op's oneDNN kernels: convolution or deconvolution forward, backward data and backward weights
// (with the bias gradient) primitives, created once over the plain NCHW / OIHW buffers themselves, so no
// reorder ever runs. The backward primitive descriptors take the forward one as their hint.
#include "kernels/conv.h"

#include <stdexcept>
#include <string>

#include "kernels/dnnl_context.h"

namespace hg {
namespace {

using dnnl::algorithm;
using dnnl::memory;

const char* kind_name(const ConvShape& s) {
  return s.transposed ? "transposed conv" : "conv";
}

std::string pair(int64_t a, int64_t b) {
  return std::to_string(a) + "x" + std::to_string(b);
}

// Why the shape has no valid output, or "" when it does.
std::string shape_error(const ConvShape& s) {
  const int64_t sizes[] = {s.batch,    s.in_channels, s.in_height, s.in_width, s.out_channels,
                           s.kernel_h, s.kernel_w,    s.stride_h,  s.stride_w};
  for (int64_t size : sizes)
    if (size < 1) return "sizes, kernel and stride must be at least 1";
  if (s.pad_h < 0 || s.pad_w < 0) return "padding must not be negative";
  if (!s.transposed && (s.kernel_h > s.in_height + 2 * s.pad_h || s.kernel_w > s.in_width + 2 * s.pad_w))
    return "kernel " + pair(s.kernel_h, s.kernel_w) + " is larger than the padded input " +
           pair(s.in_height + 2 * s.pad_h, s.in_width + 2 * s.pad_w);
  if (s.transposed && (s.out_height() < 1 || s.out_width() < 1))
    return "padding " + pair(s.pad_h, s.pad_w) + " leaves an output of " +
           pair(s.out_height(), s.out_width());
  return "";
}

struct Descriptors {
  memory::desc src, weights, bias, dst;
  memory::dims strides, padding;
};

// Creates forward, backward data and backward weights primitives from one family of oneDNN primitives
// (convolution_* or deconvolution_*, whose descriptors have the same signatures). `op` tracks the stage
// for the caller's error message.
template <class Forward, class BackwardData, class BackwardWeights>
void make_primitives(algorithm alg, const Descriptors& d, bool has_bias, const char** op,
                     BoundPrimitive* forward, BoundPrimitive* backward_data,
                     BoundPrimitive* backward_weights) {
  const dnnl::engine& engine = dnnl_cpu_engine();
  const dnnl::primitive_attr attributes = default_attributes();
  const dnnl::prop_kind training = dnnl::prop_kind::forward_training;

  *op = "forward";
  const typename Forward::desc forward_desc =
      has_bias
          ? typename Forward::desc(training, alg, d.src, d.weights, d.bias, d.dst, d.strides, d.padding,
                                   d.padding)
          : typename Forward::desc(training, alg, d.src, d.weights, d.dst, d.strides, d.padding, d.padding);
  const typename Forward::primitive_desc forward_pd(forward_desc, attributes, engine);
  *forward = BoundPrimitive(forward_pd);
  forward->add_argument(DNNL_ARG_SRC, d.src);
  forward->add_argument(DNNL_ARG_WEIGHTS, d.weights);
  if (has_bias) forward->add_argument(DNNL_ARG_BIAS, d.bias);
  forward->add_argument(DNNL_ARG_DST, d.dst);

  *op = "backward data";
  const typename BackwardData::desc data_desc(alg, d.src, d.weights, d.dst, d.strides, d.padding, d.padding);
  *backward_data =
      BoundPrimitive(typename BackwardData::primitive_desc(data_desc, attributes, engine, forward_pd));
  backward_data->add_argument(DNNL_ARG_DIFF_DST, d.dst);
  backward_data->add_argument(DNNL_ARG_WEIGHTS, d.weights);
  backward_data->add_argument(DNNL_ARG_DIFF_SRC, d.src);

  *op = "backward weights";
  const typename BackwardWeights::desc weights_desc =
      has_bias
          ? typename BackwardWeights::desc(alg, d.src, d.weights, d.bias, d.dst, d.strides, d.padding,
                                           d.padding)
          : typename BackwardWeights::desc(alg, d.src, d.weights, d.dst, d.strides, d.padding, d.padding);
  *backward_weights =
      BoundPrimitive(typename BackwardWeights::primitive_desc(weights_desc, attributes, engine, forward_pd));
  backward_weights->add_argument(DNNL_ARG_DIFF_DST, d.dst);
  backward_weights->add_argument(DNNL_ARG_SRC, d.src);
  backward_weights->add_argument(DNNL_ARG_DIFF_WEIGHTS, d.weights);
  if (has_bias) backward_weights->add_argument(DNNL_ARG_DIFF_BIAS, d.bias);
}

}  // namespace

int64_t ConvShape::out_height() const {
  return transposed ? (in_height - 1) * stride_h - 2 * pad_h + kernel_h
                    : (in_height + 2 * pad_h - kernel_h) / stride_h + 1;
}

int64_t ConvShape::out_width() const {
  return transposed ? (in_width - 1) * stride_w - 2 * pad_w + kernel_w
                    : (in_width + 2 * pad_w - kernel_w) / stride_w + 1;
}

std::string describe(const ConvShape& s) {
  return "N=" + std::to_string(s.batch) + ", C=" + std::to_string(s.in_channels) +
         ", H=" + std::to_string(s.in_height) + ", W=" + std::to_string(s.in_width) +
         " -> OC=" + std::to_string(s.out_channels) + ", kernel " + pair(s.kernel_h, s.kernel_w) +
         ", stride " + pair(s.stride_h, s.stride_w) + ", pad " + pair(s.pad_h, s.pad_w) +
         (s.has_bias ? ", with bias" : "");
}

struct ConvKernels::Impl {
  ConvShape shape;
  BoundPrimitive forward, backward_data, backward_weights;
};

ConvKernels::ConvKernels(const ConvShape& shape) : impl_(new Impl{shape, {}, {}, {}}) {
  const std::string problem = shape_error(shape);
  if (!problem.empty())
    throw std::runtime_error(std::string(kind_name(shape)) + ": invalid shape (" + describe(shape) +
                             "): " + problem);
  const ConvShape& s = shape;
  const memory::data_type f32 = memory::data_type::f32;
  const Descriptors d{
      memory::desc({s.batch, s.in_channels, s.in_height, s.in_width}, f32, memory::format_tag::nchw),
      // A transposed conv's weights are stored (in, out, kh, kw), PyTorch's ConvTranspose2d layout; oneDNN
      // runs that layout on its gemm-based kernels, while (out, in, kh, kw) fell back to its reference
      // kernel, ~300x slower (measured 1.2 s per 128-image call).
      memory::desc({s.out_channels, s.in_channels, s.kernel_h, s.kernel_w}, f32,
                   s.transposed ? memory::format_tag::iohw : memory::format_tag::oihw),
      memory::desc({s.out_channels}, f32, memory::format_tag::x),
      memory::desc({s.batch, s.out_channels, s.out_height(), s.out_width()}, f32, memory::format_tag::nchw),
      {s.stride_h, s.stride_w},
      {s.pad_h, s.pad_w}};
  const char* op = "forward";
  try {
    if (s.transposed)
      make_primitives<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data,
                      dnnl::deconvolution_backward_weights>(algorithm::deconvolution_direct, d, s.has_bias,
                                                            &op, &impl_->forward, &impl_->backward_data,
                                                            &impl_->backward_weights);
    else
      make_primitives<dnnl::convolution_forward, dnnl::convolution_backward_data,
                      dnnl::convolution_backward_weights>(algorithm::convolution_direct, d, s.has_bias, &op,
                                                          &impl_->forward, &impl_->backward_data,
                                                          &impl_->backward_weights);
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string(kind_name(s)) + ": cannot create the oneDNN primitive for " + op +
                             " over plain NCHW/OIHW buffers (" + describe(s) + "): " + e.what());
  }
}

ConvKernels::~ConvKernels() = default;

const ConvShape& ConvKernels::shape() const {
  return impl_->shape;
}

void ConvKernels::forward(const float* src, const float* weights, const float* bias, float* dst) {
  BoundPrimitive& primitive = impl_->forward;
  primitive.bind(DNNL_ARG_SRC, src);
  primitive.bind(DNNL_ARG_WEIGHTS, weights);
  if (impl_->shape.has_bias) primitive.bind(DNNL_ARG_BIAS, bias);
  primitive.bind(DNNL_ARG_DST, dst);
  primitive.execute();
}

void ConvKernels::backward_data(const float* diff_dst, const float* weights, float* diff_src) {
  BoundPrimitive& primitive = impl_->backward_data;
  primitive.bind(DNNL_ARG_DIFF_DST, diff_dst);
  primitive.bind(DNNL_ARG_WEIGHTS, weights);
  primitive.bind(DNNL_ARG_DIFF_SRC, diff_src);
  primitive.execute();
}

void ConvKernels::backward_weights(const float* diff_dst, const float* src, float* diff_weights,
                                   float* diff_bias) {
  BoundPrimitive& primitive = impl_->backward_weights;
  primitive.bind(DNNL_ARG_DIFF_DST, diff_dst);
  primitive.bind(DNNL_ARG_SRC, src);
  primitive.bind(DNNL_ARG_DIFF_WEIGHTS, diff_weights);
  if (impl_->shape.has_bias) primitive.bind(DNNL_ARG_DIFF_BIAS, diff_bias);
  primitive.execute();
}

}  // namespace hg
