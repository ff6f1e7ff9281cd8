// The normalization ops' oneDNN kernels: batch_normalization (over (N, C, S, 1), per channel: oneDNN's
// ncsp kernel takes plain 4-D buffers; a 3-D one falls back to its reference) or layer_normalization (over
// (N, C*S), per sample) forward and backward primitives with separate scale and shift, created once. The
// statistics live here, allocated once and bound to both: the forward writes them (batch statistics) or
// they are copied in (global statistics), and the backward reads them. oneDNN 2.6 has no backward-data
// pass with a scale, so the backward is the full one (prop_kind backward), into the parameter gradients kept
// here.
#include "kernels/normalization.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/dnnl_context.h"
#include "kernels/threading.h"

namespace hg {
namespace {

using dnnl::memory;

const char* kind_name(const NormShape& s) {
  return s.layer ? "layer norm" : "batch norm";
}

// Why the shape cannot be normalized, or "" when it can.
std::string shape_error(const NormShape& s) {
  if (s.batch < 1 || s.channels < 1 || s.pixels < 1) return "sizes must be at least 1";
  if (s.layer && s.global_stats) return "layer norm has no global statistics";
  if (!(s.epsilon > 0)) return "epsilon must be positive";
  return "";
}

}  // namespace

std::string describe(const NormShape& s) {
  return std::string(kind_name(s)) + ", N=" + std::to_string(s.batch) + ", C=" + std::to_string(s.channels) +
         ", S=" + std::to_string(s.pixels) + (s.global_stats ? ", global statistics" : ", batch statistics");
}

struct NormKernels::Impl {
  NormShape shape;
  BoundPrimitive forward, backward;
  std::vector<float> mean, variance, inverse;  // groups() each; inverse = 1 / sqrt(variance + epsilon)
  std::vector<float> diff_scale, diff_shift;   // parameters() each
  std::vector<float> unused_shift;             // parameters() zeros (see the backward's arguments)
};

NormKernels::NormKernels(const NormShape& shape) : impl_(new Impl{shape, {}, {}, {}, {}, {}, {}, {}, {}}) {
  const NormShape& s = shape;
  const std::string problem = shape_error(s);
  if (!problem.empty())
    throw std::runtime_error(std::string(kind_name(s)) + ": invalid shape (" + describe(s) + "): " + problem);
  const size_t groups = size_t(s.groups());
  impl_->mean.resize(groups);
  impl_->variance.resize(groups);
  impl_->inverse.resize(groups);
  impl_->diff_scale.resize(size_t(s.parameters()));
  impl_->diff_shift.resize(size_t(s.parameters()));
  impl_->unused_shift.resize(size_t(s.parameters()));

  const memory::data_type f32 = memory::data_type::f32;
  const memory::desc data =
      s.layer ? memory::desc({s.batch, s.channels * s.pixels}, f32, memory::format_tag::ab)
              : memory::desc({s.batch, s.channels, s.pixels, 1}, f32, memory::format_tag::nchw);
  const memory::desc statistics({s.groups()}, f32, memory::format_tag::a);
  const memory::desc parameters({s.parameters()}, f32, memory::format_tag::a);
  using flags = dnnl::normalization_flags;
  const flags with_scale = flags::use_scale | flags::use_shift;
  const flags all = s.global_stats ? with_scale | flags::use_global_stats : with_scale;
  // Training's forward even for evaluation: forward_inference would not write the statistics, and the
  // backward's hint must be a training forward.
  const dnnl::prop_kind training = dnnl::prop_kind::forward_training;
  const dnnl::engine& engine = dnnl_cpu_engine();
  const dnnl::primitive_attr attributes = default_attributes();
  const char* op = "forward";
  try {
    auto declare = [&](BoundPrimitive& p, std::initializer_list<int> data_roles) {
      for (int role : data_roles) p.add_argument(role, data);
      p.add_argument(DNNL_ARG_SCALE, parameters);
      p.add_argument(DNNL_ARG_MEAN, statistics);
      p.add_argument(DNNL_ARG_VARIANCE, statistics);
      p.bind(DNNL_ARG_MEAN, impl_->mean.data());
      p.bind(DNNL_ARG_VARIANCE, impl_->variance.data());
    };
    if (s.layer) {
      const dnnl::layer_normalization_forward::primitive_desc forward_pd(
          dnnl::layer_normalization_forward::desc(training, data, statistics, s.epsilon, all), attributes,
          engine);
      impl_->forward = BoundPrimitive(forward_pd);
      op = "backward";
      impl_->backward = BoundPrimitive(dnnl::layer_normalization_backward::primitive_desc(
          dnnl::layer_normalization_backward::desc(dnnl::prop_kind::backward, data, data, statistics,
                                                   s.epsilon, all),
          attributes, engine, forward_pd));
    } else {
      const dnnl::batch_normalization_forward::primitive_desc forward_pd(
          dnnl::batch_normalization_forward::desc(training, data, s.epsilon, all), attributes, engine);
      impl_->forward = BoundPrimitive(forward_pd);
      op = "backward";
      impl_->backward = BoundPrimitive(dnnl::batch_normalization_backward::primitive_desc(
          dnnl::batch_normalization_backward::desc(dnnl::prop_kind::backward, data, data, s.epsilon, all),
          attributes, engine, forward_pd));
    }
    declare(impl_->forward, {DNNL_ARG_SRC, DNNL_ARG_DST});
    impl_->forward.add_argument(DNNL_ARG_SHIFT, parameters);
    declare(impl_->backward, {DNNL_ARG_DIFF_DST, DNNL_ARG_SRC, DNNL_ARG_DIFF_SRC});
    impl_->backward.add_argument(DNNL_ARG_DIFF_SCALE, parameters);
    impl_->backward.add_argument(DNNL_ARG_DIFF_SHIFT, parameters);
    impl_->backward.bind(DNNL_ARG_DIFF_SCALE, impl_->diff_scale.data());
    impl_->backward.bind(DNNL_ARG_DIFF_SHIFT, impl_->diff_shift.data());
    // oneDNN 2.6 refuses to run a backward with use_shift that has no shift, though no gradient depends on
    // it; zeros stand in.
    impl_->backward.add_argument(DNNL_ARG_SHIFT, parameters);
    impl_->backward.bind(DNNL_ARG_SHIFT, impl_->unused_shift.data());
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string(kind_name(s)) + ": cannot create the oneDNN primitive for " + op +
                             " over plain buffers (" + describe(s) + "): " + e.what());
  }
}

NormKernels::~NormKernels() = default;

const NormShape& NormKernels::shape() const {
  return impl_->shape;
}

const float* NormKernels::mean() const {
  return impl_->mean.data();
}

const float* NormKernels::variance() const {
  return impl_->variance.data();
}

void NormKernels::forward(const float* src, const float* scale, const float* shift, float* dst,
                          const float* mean, const float* variance) {
  Impl& k = *impl_;
  if (k.shape.global_stats) {
    std::copy(mean, mean + k.mean.size(), k.mean.begin());
    std::copy(variance, variance + k.variance.size(), k.variance.begin());
  }
  k.forward.bind(DNNL_ARG_SRC, src);
  k.forward.bind(DNNL_ARG_SCALE, scale);
  k.forward.bind(DNNL_ARG_SHIFT, shift);
  k.forward.bind(DNNL_ARG_DST, dst);
  k.forward.execute();
  for (size_t g = 0; g < k.inverse.size(); ++g)
    k.inverse[g] = float(1 / std::sqrt(double(k.variance[g]) + k.shape.epsilon));
}

void NormKernels::backward_data(const float* diff_dst, const float* src, const float* scale,
                                float* diff_src) {
  Impl& k = *impl_;
  k.backward.bind(DNNL_ARG_DIFF_DST, diff_dst);
  k.backward.bind(DNNL_ARG_SRC, src);
  k.backward.bind(DNNL_ARG_SCALE, scale);
  k.backward.bind(DNNL_ARG_DIFF_SRC, diff_src);
  k.backward.execute();
}

const float* NormKernels::diff_scale() const {
  return impl_->diff_scale.data();
}

const float* NormKernels::diff_shift() const {
  return impl_->diff_shift.data();
}

namespace {

// out[p] = sum over the batch of sum_k dy[k] * (xhat[k] or 1), where parameter p covers `width` consecutive
// values of each sample (a channel's S pixels for batch norm, one element for layer norm). Chunks of at most
// 64 parameters, each summed by one thread in sample order, in double.
void parameter_sums(const NormShape& s, const float* dy, const float* x, const float* mean,
                    const float* inverse, float* out) {
  constexpr int64_t kChunk = 64;
  const int64_t count = s.parameters(), width = s.layer ? 1 : s.pixels, sample = s.channels * s.pixels;
  const int64_t grain = std::clamp<int64_t>(count / (4 * math_threads()), 1, kChunk);
  parallel_for(0, count, grain, [&](int64_t begin, int64_t end) {
    double sums[kChunk] = {};
    for (int64_t i = 0; i < s.batch; ++i)
      for (int64_t p = begin; p < end; ++p) {
        const int64_t at = i * sample + p * width, group = s.layer ? i : p;
        double sum = 0;
        if (x) {
          const float m = mean[group];
          for (int64_t k = 0; k < width; ++k) sum += dy[at + k] * (x[at + k] - m);
          sum *= inverse[group];
        } else {
          for (int64_t k = 0; k < width; ++k) sum += dy[at + k];
        }
        sums[p - begin] += sum;
      }
    for (int64_t p = begin; p < end; ++p) out[p] = float(sums[p - begin]);
  });
}

}  // namespace

void NormKernels::backward_scale(const float* diff_dst, const float* src, float* diff_scale) const {
  parameter_sums(impl_->shape, diff_dst, src, impl_->mean.data(), impl_->inverse.data(), diff_scale);
}

void NormKernels::backward_shift(const float* diff_dst, float* diff_shift) const {
  parameter_sums(impl_->shape, diff_dst, nullptr, nullptr, nullptr, diff_shift);
}

}  // namespace hg
