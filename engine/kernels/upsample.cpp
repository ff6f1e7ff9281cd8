// The upsample op's oneDNN kernels: resampling forward (training) and backward primitives, nearest, created
// once over plain NCHW buffers. oneDNN's nearest reads src at round((y + 0.5) / F - 0.5), which for an
// integer factor F is y / F rounded down: the upsample contract (the tests check it against the reference).
#include "kernels/upsample.h"

#include <stdexcept>
#include <string>

#include "kernels/dnnl_context.h"

namespace hg {

std::string describe(const UpsampleShape& s) {
  return "N=" + std::to_string(s.batch) + ", C=" + std::to_string(s.channels) +
         ", H=" + std::to_string(s.height) + ", W=" + std::to_string(s.width) + ", factor " +
         std::to_string(s.factor);
}

struct UpsampleKernels::Impl {
  UpsampleShape shape;
  BoundPrimitive forward, backward;
};

UpsampleKernels::UpsampleKernels(const UpsampleShape& shape) : impl_(new Impl{shape, {}, {}}) {
  const UpsampleShape& s = shape;
  if (s.batch < 1 || s.channels < 1 || s.height < 1 || s.width < 1 || s.factor < 1)
    throw std::runtime_error("upsample: invalid shape (" + describe(s) +
                             "): sizes and factor must be at least 1");
  using dnnl::memory;
  const memory::data_type f32 = memory::data_type::f32;
  const memory::desc src({s.batch, s.channels, s.height, s.width}, f32, memory::format_tag::nchw);
  const memory::desc dst({s.batch, s.channels, s.height * s.factor, s.width * s.factor}, f32,
                         memory::format_tag::nchw);
  const dnnl::algorithm nearest = dnnl::algorithm::resampling_nearest;
  const dnnl::engine& engine = dnnl_cpu_engine();
  const dnnl::primitive_attr attributes = default_attributes();
  const char* op = "forward";
  try {
    const dnnl::resampling_forward::primitive_desc forward_pd(
        dnnl::resampling_forward::desc(dnnl::prop_kind::forward_training, nearest, src, dst), attributes,
        engine);
    impl_->forward = BoundPrimitive(forward_pd);
    impl_->forward.add_argument(DNNL_ARG_SRC, src);
    impl_->forward.add_argument(DNNL_ARG_DST, dst);
    op = "backward";
    impl_->backward = BoundPrimitive(dnnl::resampling_backward::primitive_desc(
        dnnl::resampling_backward::desc(nearest, src, dst), attributes, engine, forward_pd));
    impl_->backward.add_argument(DNNL_ARG_DIFF_DST, dst);
    impl_->backward.add_argument(DNNL_ARG_DIFF_SRC, src);
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string("upsample: cannot create the oneDNN primitive for ") + op +
                             " over plain NCHW buffers (" + describe(s) + "): " + e.what());
  }
}

UpsampleKernels::~UpsampleKernels() = default;

const UpsampleShape& UpsampleKernels::shape() const {
  return impl_->shape;
}

void UpsampleKernels::forward(const float* src, float* dst) {
  impl_->forward.bind(DNNL_ARG_SRC, src);
  impl_->forward.bind(DNNL_ARG_DST, dst);
  impl_->forward.execute();
}

void UpsampleKernels::backward(const float* diff_dst, float* diff_src) {
  impl_->backward.bind(DNNL_ARG_DIFF_DST, diff_dst);
  impl_->backward.bind(DNNL_ARG_DIFF_SRC, diff_src);
  impl_->backward.execute();
}

}  // namespace hg
