// The conv op's oneDNN kernels: convolution or deconvolution forward, backward data and backward weights
// (with the bias gradient) primitives, created once. Each runs in the layouts oneDNN prefers for it where
// that pays (see ConvKernels' constructor), with reorders to and from the caller's plain NCHW / OIHW
// buffers, else on those buffers themselves. The backward primitive descriptors take the forward one as
// their hint.
#include "kernels/conv.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <new>
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

// One family's forward, backward-data and backward-weights primitive descriptors over `d` (convolution_* or
// deconvolution_*, whose descriptors have the same signatures). `op` tracks the stage for the caller's error
// message.
struct Descs {
  dnnl::primitive_desc forward, backward_data, backward_weights;
};

template <class Forward, class BackwardData, class BackwardWeights>
Descs make_descs(algorithm alg, const Descriptors& d, bool has_bias,
                 const dnnl::primitive_attr& forward_attributes, const char** op) {
  const dnnl::engine& engine = dnnl_cpu_engine();
  const dnnl::primitive_attr attributes = default_attributes();
  const dnnl::prop_kind training = dnnl::prop_kind::forward_training;

  *op = "forward";
  const typename Forward::desc forward_desc =
      has_bias
          ? typename Forward::desc(training, alg, d.src, d.weights, d.bias, d.dst, d.strides, d.padding,
                                   d.padding)
          : typename Forward::desc(training, alg, d.src, d.weights, d.dst, d.strides, d.padding, d.padding);
  const typename Forward::primitive_desc forward_pd(forward_desc, forward_attributes, engine);

  *op = "backward data";
  const typename BackwardData::desc data_desc(alg, d.src, d.weights, d.dst, d.strides, d.padding, d.padding);
  const typename BackwardData::primitive_desc data_pd(data_desc, attributes, engine, forward_pd);

  *op = "backward weights";
  const typename BackwardWeights::desc weights_desc =
      has_bias
          ? typename BackwardWeights::desc(alg, d.src, d.weights, d.bias, d.dst, d.strides, d.padding,
                                           d.padding)
          : typename BackwardWeights::desc(alg, d.src, d.weights, d.dst, d.strides, d.padding, d.padding);
  const typename BackwardWeights::primitive_desc weights_pd(weights_desc, attributes, engine, forward_pd);
  return {forward_pd, data_pd, weights_pd};
}

// One argument of a primitive: its role, the plain layout the caller's buffer has, and whether the
// primitive writes it.
struct Argument {
  int role;
  dnnl::query query;
  int index;
  memory::desc plain;
  bool output;
  char* kept = nullptr;  // where the kernels keep this argument's blocked copy for another stage (SharedCopy)
};

// Page-aligned bytes, whole pages of them (at least `bytes`), freed with the pointer.
struct FreeBytes {
  void operator()(char* p) const { std::free(p); }
};
using Bytes = std::unique_ptr<char, FreeBytes>;
Bytes page_aligned(size_t bytes) {
  Bytes data(static_cast<char*>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096)));
  if (!data) throw std::bad_alloc();
  return data;
}

// A blocked copy of an input that two stages of one step read: the forward pass's src, which backward weights
// reads again, and diff_dst, which both backward passes read. Whichever stage runs first reorders into it;
// the other finds it current (`of` is the plain buffer it was made from) and skips its reorder.
struct SharedCopy {
  Bytes data;                // null: not shared (plain, or the stages' layouts differ)
  const void* of = nullptr;  // the plain buffer the copy holds this step; null: none
};

// A thread's scratch for the arguments of conv stages in oneDNN's layouts, at least `bytes` long. It only
// grows, in the first steps, and is freed when the thread ends.
char* conversion_scratch(size_t bytes) {
  thread_local Bytes buffer;
  thread_local size_t capacity = 0;
  if (bytes > capacity) {
    buffer = page_aligned(bytes);
    capacity = bytes;
  }
  return buffer.get();
}

// Where in the scratch a stage keeps its arguments: each stage, when it is created, takes the region after
// the last one taken, wrapping around at kRing. Stages that run one after another (a layer's backward data
// and backward weights) so never share memory: writing lines another core has just read costs an
// invalidation per line, and with every stage at offset 0 backward weights took 0.17-0.37 ms instead of
// 0.10-0.27 in the conv AE. A region is reused only kRing bytes of other stages' arguments later; at 8 MB
// the conv AE's step was still 0.37 ms slower than with a buffer per stage, at 16 MB within 0.07 ms (2%,
// medians of 6 runs). A buffer per stage cost the conv VAE's training, tail-batch and evaluation plans 60 MB
// more resident memory (111 -> 174 MB); this scratch, 19 MB (130 MB).
constexpr size_t kRing = size_t(16) << 20;
size_t take_region(size_t bytes) {
  static std::atomic<size_t> next{0};
  size_t offset = next.load(), start = 0;
  do {
    start = offset + bytes > kRing ? 0 : offset;
  } while (!next.compare_exchange_weak(offset, start + bytes));
  return start;
}

// A primitive run from and to the caller's plain buffers. Where the primitive wants another layout for an
// argument (oneDNN's blocked nChw16c / OIhw16i16o and the like), the argument lives in that layout in the
// stage's region of the thread's conversion scratch, or in a copy the layer's stages share (Argument::kept),
// and a reorder fills it before the primitive runs (inputs) or empties it into the caller's buffer after
// (outputs). Reorders only move values, so the results are the primitive's own. The primitive and its
// reorders are created on first use: an evaluation plan's kernels only ever run forward, and a layer with a
// bias runs only one of its two backward-weights stages.
class ConvStage {
 public:
  ConvStage() = default;
  ConvStage(const dnnl::primitive_desc& pd, std::vector<Argument> arguments)
      : pd_(pd), arguments_(std::move(arguments)) {}

  void bind(int role, const void* data) {
    if (!created_) create();
    for (Conversion& c : conversions_)
      if (c.role == role) return c.reorder.bind(c.output ? DNNL_ARG_TO : DNNL_ARG_FROM, data);
    primitive_.bind(role, data);
  }
  // Runs the stage; `skip` and `skip_too` (roles, or 0) are inputs whose blocked copies are current already.
  void execute(int skip = 0, int skip_too = 0) {
    char* scratch = region_bytes_ == 0 ? nullptr : conversion_scratch(region_ + region_bytes_) + region_;
    if (scratch && scratch != bound_scratch_) {  // pointing a blocked memory elsewhere zeroes its padding
      for (Conversion& c : conversions_) {
        if (c.kept) continue;
        c.reorder.bind(c.output ? DNNL_ARG_FROM : DNNL_ARG_TO, scratch + c.offset);
        primitive_.bind(c.role, scratch + c.offset);
      }
      bound_scratch_ = scratch;
    }
    for (Conversion& c : conversions_)
      if (!c.output && c.role != skip && c.role != skip_too) c.reorder.execute();
    primitive_.execute();
    for (Conversion& c : conversions_)
      if (c.output) c.reorder.execute();
  }
  // "jit:avx512_core (reordered)": oneDNN's implementation, and whether any argument is reordered.
  std::string describe() const {
    bool converts = false;
    for (const Argument& a : arguments_) converts = converts || pd_.query_md(a.query, a.index) != a.plain;
    return std::string(pd_.impl_info_str()) + (converts ? " (reordered)" : "");
  }

 private:
  void create() {
    primitive_ = BoundPrimitive(pd_);
    for (const Argument& a : arguments_) {
      const memory::desc chosen = pd_.query_md(a.query, a.index);
      primitive_.add_argument(a.role, chosen);
      if (chosen == a.plain) continue;
      Conversion c{a.role, a.output, {}, region_bytes_, a.kept};
      // Then 7 cache lines: arguments a multiple of 4 KB apart (batch x channels x pixels often is) are read
      // and written at the same offsets within a page, which stalls the loads behind the stores (4K
      // aliasing).
      if (!a.kept) region_bytes_ += (chosen.get_size() + 63) / 64 * 64 + 7 * 64;
      const memory::desc& from = a.output ? chosen : a.plain;
      const memory::desc& to = a.output ? a.plain : chosen;
      c.reorder = BoundPrimitive(dnnl::reorder::primitive_desc(dnnl_cpu_engine(), from, dnnl_cpu_engine(), to,
                                                               default_attributes()));
      c.reorder.add_argument(DNNL_ARG_FROM, from);
      c.reorder.add_argument(DNNL_ARG_TO, to);
      if (a.kept) {  // bound once: the copy never moves
        c.reorder.bind(a.output ? DNNL_ARG_FROM : DNNL_ARG_TO, a.kept);
        primitive_.bind(a.role, a.kept);
      }
      conversions_.push_back(std::move(c));
    }
    region_ = take_region(region_bytes_);
    created_ = true;
  }

  struct Conversion {
    int role;
    bool output;
    BoundPrimitive reorder;
    size_t offset;  // of the argument in oneDNN's layout, in the conversion scratch
    char* kept;     // or the kernels' copy it lives in instead (Argument::kept)
  };
  dnnl::primitive_desc pd_;
  std::vector<Argument> arguments_;
  bool created_ = false;
  BoundPrimitive primitive_;
  std::vector<Conversion> conversions_;
  size_t region_ = 0, region_bytes_ = 0;  // the stage's region of the scratch
  char* bound_scratch_ = nullptr;         // where the arguments point: the region in this thread's scratch
};

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
         (s.has_bias ? ", with bias" : "") +
         (s.activation != Activation::Linear ? std::string(", then ") + activation_name(s.activation) : "");
}

struct ConvKernels::Impl {
  ConvShape shape;
  // backward_weights computes the bias gradient too; weights_only (with a bias) does not.
  ConvStage forward, backward_data, backward_weights, weights_only;
  SharedCopy src, diff_dst;
  std::mutex diff_dst_lock;  // the two backward passes may run at once (--step-concurrency)
};

ConvKernels::ConvKernels(const ConvShape& shape) : impl_(new Impl{shape, {}, {}, {}, {}, {}, {}, {}}) {
  const std::string problem = shape_error(shape);
  if (!problem.empty())
    throw std::runtime_error(std::string(kind_name(shape)) + ": invalid shape (" + describe(shape) +
                             "): " + problem);
  const ConvShape& s = shape;
  const memory::data_type f32 = memory::data_type::f32;
  const memory::dims src_dims{s.batch, s.in_channels, s.in_height, s.in_width},
      weights_dims{s.out_channels, s.in_channels, s.kernel_h, s.kernel_w},
      dst_dims{s.batch, s.out_channels, s.out_height(), s.out_width()};
  // The caller's buffers. A transposed conv's weights are stored (in, out, kh, kw), PyTorch's
  // ConvTranspose2d layout.
  const Descriptors plain{
      memory::desc(src_dims, f32, memory::format_tag::nchw),
      memory::desc(weights_dims, f32, s.transposed ? memory::format_tag::iohw : memory::format_tag::oihw),
      memory::desc({s.out_channels}, f32, memory::format_tag::x),
      memory::desc(dst_dims, f32, memory::format_tag::nchw),
      {s.stride_h, s.stride_w},
      {s.pad_h, s.pad_w}};
  // Layouts of oneDNN's choosing: on AVX2 and AVX-512 its direct jit kernels on channel-blocked tensors,
  // where over plain NCHW every convolution runs as im2col and sgemm (x64:gemm:jit), 3-5x slower for the
  // MNIST autoencoders' 16- and 32-channel layers even with the reorders to and from the plain buffers.
  const Descriptors chosen{memory::desc(src_dims, f32, memory::format_tag::any),
                           memory::desc(weights_dims, f32, memory::format_tag::any),
                           plain.bias,
                           memory::desc(dst_dims, f32, memory::format_tag::any),
                           plain.strides,
                           plain.padding};
  dnnl::primitive_attr forward_attributes = default_attributes();
  dnnl::post_ops post_ops;
  append_activation(post_ops, s.activation, s.alpha);
  if (post_ops.len() > 0) forward_attributes.set_post_ops(post_ops);
  auto descs = [&](const Descriptors& d, bool bias, const char** op) {
    return s.transposed ? make_descs<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data,
                                     dnnl::deconvolution_backward_weights>(algorithm::deconvolution_direct, d,
                                                                           bias, forward_attributes, op)
                        : make_descs<dnnl::convolution_forward, dnnl::convolution_backward_data,
                                     dnnl::convolution_backward_weights>(algorithm::convolution_direct, d,
                                                                         bias, forward_attributes, op);
  };
  const char* op = "forward";
  Descs on_plain, on_chosen, unbiased_plain, unbiased_chosen;
  try {
    on_plain = descs(plain, s.has_bias, &op);
    unbiased_plain = s.has_bias ? descs(plain, false, &op) : on_plain;
  } catch (const dnnl::error& e) {
    throw std::runtime_error(std::string(kind_name(s)) + ": cannot create the oneDNN primitive for " + op +
                             " over plain NCHW/OIHW buffers (" + describe(s) + "): " + e.what());
  }
  const char* unused = nullptr;
  try {
    on_chosen = descs(chosen, s.has_bias, &unused);
    unbiased_chosen = s.has_bias ? descs(chosen, false, &unused) : on_chosen;
  } catch (const dnnl::error&) {
    on_chosen = on_plain;  // no kernel of oneDNN's own layouts for this shape
    unbiased_chosen = unbiased_plain;
  }
  // A stage takes oneDNN's layouts unless its kernel there is the reference loop, or it would leave too
  // few channels to vectorize over. The blocked kernels vectorize over channels: a forward or backward-data
  // pass that writes fewer than 8 (the MNIST decoder's 1-channel output) runs at a fraction of the vector
  // width, 1.9 ms per 128-image call against 0.36 ms for im2col and sgemm on the plain buffers. Backward
  // weights with a 1-channel side is 4-5x slower blocked than plain on AVX2 (1.36 against 0.30 ms) but 2-3x
  // faster on AVX-512 (0.17 against 0.39 ms), so there it needs 8 channels on both sides below AVX-512.
  // (Measured per stage with --profile on bench/graphs/conv_ae.graph, batch 128, 2 threads, on the same
  // AVX-512 machine with oneDNN limited to AVX2 for the AVX2 figures.)
  auto pick = [](const dnnl::primitive_desc& plain_pd, const dnnl::primitive_desc& chosen_pd,
                 int64_t channels, int64_t avx512_channels) {
    const std::string implementation = chosen_pd.impl_info_str();
    if (implementation.find("ref") != std::string::npos) return plain_pd;
    const bool avx512 = implementation.find("avx512") != std::string::npos;
    return (avx512 ? avx512_channels : channels) >= 8 ? chosen_pd : plain_pd;
  };
  const dnnl::query src_md = dnnl::query::src_md, weights_md = dnnl::query::weights_md,
                    dst_md = dnnl::query::dst_md, diff_src_md = dnnl::query::diff_src_md,
                    diff_weights_md = dnnl::query::diff_weights_md, diff_dst_md = dnnl::query::diff_dst_md;
  const int64_t weights_channels = std::min(s.in_channels, s.out_channels);
  const dnnl::primitive_desc forward_pd =
                                 pick(on_plain.forward, on_chosen.forward, s.out_channels, s.out_channels),
                             data_pd = pick(on_plain.backward_data, on_chosen.backward_data, s.in_channels,
                                            s.in_channels),
                             weights_pd = pick(on_plain.backward_weights, on_chosen.backward_weights,
                                               weights_channels, 8),
                             only_pd = pick(unbiased_plain.backward_weights, unbiased_chosen.backward_weights,
                                            weights_channels, 8);
  // A copy is shared where every stage that reads the tensor wants it in the same blocked layout.
  auto shared = [](const memory::desc& plain_desc, std::initializer_list<memory::desc> wanted) {
    for (const memory::desc& d : wanted)
      if (d == plain_desc || d != *wanted.begin()) return false;
    return true;
  };
  Impl& k = *impl_;
  if (s.training &&
      shared(plain.src, {forward_pd.query_md(src_md), weights_pd.query_md(src_md), only_pd.query_md(src_md)}))
    k.src.data = page_aligned(forward_pd.query_md(src_md).get_size());
  if (shared(plain.dst, {data_pd.query_md(diff_dst_md), weights_pd.query_md(diff_dst_md),
                         only_pd.query_md(diff_dst_md)}))
    k.diff_dst.data = page_aligned(data_pd.query_md(diff_dst_md).get_size());
  char *kept_src = k.src.data.get(), *kept_diff_dst = k.diff_dst.data.get();

  std::vector<Argument> forward = {{DNNL_ARG_SRC, src_md, 0, plain.src, false, kept_src},
                                   {DNNL_ARG_WEIGHTS, weights_md, 0, plain.weights, false},
                                   {DNNL_ARG_DST, dst_md, 0, plain.dst, true}};
  if (s.has_bias) forward.push_back({DNNL_ARG_BIAS, weights_md, 1, plain.bias, false});
  const std::vector<Argument> weights_only = {
      {DNNL_ARG_DIFF_DST, diff_dst_md, 0, plain.dst, false, kept_diff_dst},
      {DNNL_ARG_SRC, src_md, 0, plain.src, false, kept_src},
      {DNNL_ARG_DIFF_WEIGHTS, diff_weights_md, 0, plain.weights, true}};
  std::vector<Argument> backward_weights = weights_only;
  if (s.has_bias) backward_weights.push_back({DNNL_ARG_DIFF_BIAS, diff_weights_md, 1, plain.bias, true});
  k.forward = ConvStage(forward_pd, forward);
  k.backward_data = ConvStage(data_pd, {{DNNL_ARG_DIFF_DST, diff_dst_md, 0, plain.dst, false, kept_diff_dst},
                                        {DNNL_ARG_WEIGHTS, weights_md, 0, plain.weights, false},
                                        {DNNL_ARG_DIFF_SRC, diff_src_md, 0, plain.src, true}});
  k.backward_weights = ConvStage(weights_pd, backward_weights);
  k.weights_only = ConvStage(only_pd, weights_only);
}

ConvKernels::~ConvKernels() = default;

const ConvShape& ConvKernels::shape() const {
  return impl_->shape;
}

std::string ConvKernels::implementations() const {
  return "forward " + impl_->forward.describe() + "; backward data " + impl_->backward_data.describe() +
         "; backward weights " + impl_->backward_weights.describe();
}

void ConvKernels::forward(const float* src, const float* weights, const float* bias, float* dst) {
  Impl& k = *impl_;
  ConvStage& primitive = k.forward;
  primitive.bind(DNNL_ARG_SRC, src);
  primitive.bind(DNNL_ARG_WEIGHTS, weights);
  if (k.shape.has_bias) primitive.bind(DNNL_ARG_BIAS, bias);
  primitive.bind(DNNL_ARG_DST, dst);
  primitive.execute();
  k.src.of = k.src.data ? src : nullptr;  // made in the pass, for backward weights
  const std::lock_guard<std::mutex> lock(k.diff_dst_lock);
  k.diff_dst.of = nullptr;  // a new step: the backward passes get a new gradient
}

void ConvKernels::backward_data(const float* diff_dst, const float* weights, float* diff_src) {
  Impl& k = *impl_;
  ConvStage& primitive = k.backward_data;
  primitive.bind(DNNL_ARG_DIFF_DST, diff_dst);
  primitive.bind(DNNL_ARG_WEIGHTS, weights);
  primitive.bind(DNNL_ARG_DIFF_SRC, diff_src);
  const std::lock_guard<std::mutex> lock(k.diff_dst_lock);
  const bool current = k.diff_dst.data && k.diff_dst.of == diff_dst;
  primitive.execute(current ? DNNL_ARG_DIFF_DST : 0);
  if (k.diff_dst.data) k.diff_dst.of = diff_dst;
}

void ConvKernels::backward_weights(const float* diff_dst, const float* src, float* diff_weights,
                                   float* diff_bias) {
  Impl& k = *impl_;
  const bool bias = k.shape.has_bias && diff_bias;
  ConvStage& primitive = bias ? k.backward_weights : k.weights_only;
  primitive.bind(DNNL_ARG_DIFF_DST, diff_dst);
  primitive.bind(DNNL_ARG_SRC, src);
  primitive.bind(DNNL_ARG_DIFF_WEIGHTS, diff_weights);
  if (bias) primitive.bind(DNNL_ARG_DIFF_BIAS, diff_bias);
  const std::lock_guard<std::mutex> lock(k.diff_dst_lock);
  const bool src_current = k.src.data && k.src.of == src;
  const bool diff_current = k.diff_dst.data && k.diff_dst.of == diff_dst;
  primitive.execute(src_current ? DNNL_ARG_SRC : 0, diff_current ? DNNL_ARG_DIFF_DST : 0);
  if (k.diff_dst.data) k.diff_dst.of = diff_dst;
  if (k.src.data) k.src.of = src;
}

}  // namespace hg
