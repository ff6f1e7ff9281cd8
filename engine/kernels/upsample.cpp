// The upsample op's oneDNN kernels: resampling forward (training) and backward primitives, nearest, created
// once over plain NCHW buffers. oneDNN's nearest reads src at round((y + 0.5) / F - 0.5), which for an
// integer factor F is y / F rounded down: the upsample contract (the tests check it against the reference).
#include "kernels/upsample.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/dnnl_context.h"
#include "kernels/threading.h"

namespace hg {

std::string describe(const UpsampleShape& s) {
  return "N=" + std::to_string(s.batch) + ", C=" + std::to_string(s.channels) +
         ", H=" + std::to_string(s.height) + ", W=" + std::to_string(s.width) + ", factor " +
         std::to_string(s.factor);
}

struct UpsampleKernels::Impl {
  UpsampleShape shape;
  BoundPrimitive forward;
};

UpsampleKernels::UpsampleKernels(const UpsampleShape& shape) : impl_(new Impl{shape, {}}) {
  const UpsampleShape& s = shape;
  if (s.batch < 1 || s.channels < 1 || s.height < 1 || s.width < 1 || s.factor < 1)
    throw std::runtime_error("upsample: invalid shape (" + describe(s) +
                             "): sizes and factor must be at least 1");
  using dnnl::memory;
  const memory::data_type f32 = memory::data_type::f32;
  const memory::desc src({s.batch, s.channels, s.height, s.width}, f32, memory::format_tag::nchw);
  const memory::desc dst({s.batch, s.channels, s.height * s.factor, s.width * s.factor}, f32,
                         memory::format_tag::nchw);
  try {
    impl_->forward = BoundPrimitive(dnnl::resampling_forward::primitive_desc(
        dnnl::resampling_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::resampling_nearest,
                                       src, dst),
        default_attributes(), dnnl_cpu_engine()));
    impl_->forward.add_argument(DNNL_ARG_SRC, src);
    impl_->forward.add_argument(DNNL_ARG_DST, dst);
  } catch (const dnnl::error& e) {
    throw std::runtime_error("upsample: cannot create the oneDNN primitive over plain NCHW buffers (" +
                             describe(s) + "): " + e.what());
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

// Each plane by one thread, each block summed in row order: the same bits for any thread count.
void UpsampleKernels::backward(const float* diff_dst, float* diff_src) {
  const UpsampleShape& s = impl_->shape;
  const int64_t f = s.factor, h = s.height, w = s.width, W = w * f;
  parallel_for(0, s.batch * s.channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      std::fill(diff_src + p * h * w, diff_src + (p + 1) * h * w, 0.0f);
      for (int64_t y = 0; y < h * f; ++y) {
        const float* row = diff_dst + (p * h * f + y) * W;
        float* out = diff_src + (p * h + y / f) * w;
        for (int64_t x = 0; x < W; ++x) out[x / f] += row[x];
      }
    }
  });
}

}  // namespace hg
