// The pool op's oneDNN kernels: pooling forward (training) and backward primitives created once over plain
// NCHW buffers. Max pooling's workspace (where each window's maximum was) is allocated here, once, and
// bound to both primitives, so a step only swaps the data pointers.
#include "kernels/pool.h"

#include <stdexcept>
#include <string>

#include "kernels/dnnl_context.h"

namespace hg {
namespace {

using dnnl::memory;

std::string pair(int64_t a, int64_t b) {
  return std::to_string(a) + "x" + std::to_string(b);
}

const char* kind_name(const PoolShape& s) {
  return s.max ? "max pool" : "average pool";
}

// Why the shape has no valid output, or "" when it does.
std::string shape_error(const PoolShape& s) {
  const int64_t sizes[] = {s.batch,    s.channels, s.in_height, s.in_width,
                           s.kernel_h, s.kernel_w, s.stride_h,  s.stride_w};
  for (int64_t size : sizes)
    if (size < 1) return "sizes, kernel and stride must be at least 1";
  if (s.pad_h < 0 || s.pad_w < 0) return "padding must not be negative";
  if (s.pad_h >= s.kernel_h || s.pad_w >= s.kernel_w)
    return "padding " + pair(s.pad_h, s.pad_w) + " must be smaller than the kernel " +
           pair(s.kernel_h, s.kernel_w);
  if (s.kernel_h > s.in_height + 2 * s.pad_h || s.kernel_w > s.in_width + 2 * s.pad_w)
    return "kernel " + pair(s.kernel_h, s.kernel_w) + " is larger than the padded input " +
           pair(s.in_height + 2 * s.pad_h, s.in_width + 2 * s.pad_w);
  return "";
}

}  // namespace

int64_t PoolShape::out_height() const {
  return (in_height + 2 * pad_h - kernel_h) / stride_h + 1;
}

int64_t PoolShape::out_width() const {
  return (in_width + 2 * pad_w - kernel_w) / stride_w + 1;
}

std::string describe(const PoolShape& s) {
  return "N=" + std::to_string(s.batch) + ", C=" + std::to_string(s.channels) +
         ", H=" + std::to_string(s.in_height) + ", W=" + std::to_string(s.in_width) + ", kernel " +
         pair(s.kernel_h, s.kernel_w) + ", stride " + pair(s.stride_h, s.stride_w) + ", pad " +
         pair(s.pad_h, s.pad_w);
}

struct PoolKernels::Impl {
  PoolShape shape;
  BoundPrimitive forward, backward;
  dnnl::memory workspace;  // max pooling only; allocated by oneDNN, bound to both primitives
};

PoolKernels::PoolKernels(const PoolShape& shape) : impl_(new Impl{shape, {}, {}, {}}) {
  const PoolShape& s = shape;
  const std::string problem = shape_error(s);
  if (!problem.empty())
    throw std::runtime_error(std::string(kind_name(s)) + ": invalid shape (" + describe(s) + "): " + problem);
  const memory::data_type f32 = memory::data_type::f32;
  const memory::desc src({s.batch, s.channels, s.in_height, s.in_width}, f32, memory::format_tag::nchw);
  const memory::desc dst({s.batch, s.channels, s.out_height(), s.out_width()}, f32, memory::format_tag::nchw);
  const memory::dims strides = {s.stride_h, s.stride_w}, kernel = {s.kernel_h, s.kernel_w},
                     padding = {s.pad_h, s.pad_w};
  const dnnl::algorithm alg =
      s.max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
  const dnnl::engine& engine = dnnl_cpu_engine();
  const dnnl::primitive_attr attributes = default_attributes();
  const char* op = "forward";
  try {
    const dnnl::pooling_forward::primitive_desc forward_pd(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training, alg, src, dst, strides, kernel,
                                    padding, padding),
        attributes, engine);
    impl_->forward = BoundPrimitive(forward_pd);
    impl_->forward.add_argument(DNNL_ARG_SRC, src);
    impl_->forward.add_argument(DNNL_ARG_DST, dst);

    op = "backward";
    impl_->backward = BoundPrimitive(dnnl::pooling_backward::primitive_desc(
        dnnl::pooling_backward::desc(alg, src, dst, strides, kernel, padding, padding), attributes, engine,
        forward_pd));
    impl_->backward.add_argument(DNNL_ARG_DIFF_DST, dst);
    impl_->backward.add_argument(DNNL_ARG_DIFF_SRC, src);

    const memory::desc workspace = forward_pd.workspace_desc();
    if (workspace.get_size() != 0) {
      impl_->workspace = dnnl::memory(workspace, engine);
      for (BoundPrimitive* primitive : {&impl_->forward, &impl_->backward}) {
        primitive->add_argument(DNNL_ARG_WORKSPACE, workspace);
        primitive->bind(DNNL_ARG_WORKSPACE, impl_->workspace.get_data_handle());
      }
    }
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string(kind_name(s)) + ": cannot create the oneDNN primitive for " + op +
                             " over plain NCHW buffers (" + describe(s) + "): " + e.what());
  }
}

PoolKernels::~PoolKernels() = default;

const PoolShape& PoolKernels::shape() const {
  return impl_->shape;
}

void PoolKernels::forward(const float* src, float* dst) {
  impl_->forward.bind(DNNL_ARG_SRC, src);
  impl_->forward.bind(DNNL_ARG_DST, dst);
  impl_->forward.execute();
}

void PoolKernels::backward(const float* diff_dst, float* diff_src) {
  impl_->backward.bind(DNNL_ARG_DIFF_DST, diff_dst);
  impl_->backward.bind(DNNL_ARG_DIFF_SRC, diff_src);
  impl_->backward.execute();
}

}  // namespace hg
