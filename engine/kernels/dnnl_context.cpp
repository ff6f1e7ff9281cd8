// The process-wide oneDNN engine and stream, and BoundPrimitive's argument plumbing (see dnnl_context.h).
#include "kernels/dnnl_context.h"

#include <malloc.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "support/diagnostics.h"

namespace hg {

static std::atomic<int64_t> created_primitives{0};

int64_t primitives_created() {
  return created_primitives.load();
}

// oneDNN 2.6's gemm mallocs its packing buffers (hundreds of KB) on every call and frees them after it.
// With glibc's default, self-adjusting thresholds some of those land in fresh mmaps or in heap memory that
// the previous free just returned to the kernel, so every step faults pages in again (about 14 us a fault
// in this VM). Fixed thresholds keep freed memory in the heap for the next call: over two epochs of
// graphs/mnist_ae1000.graph, 12,000 fewer page faults (78,100 -> 66,100).
static void keep_freed_memory_in_heap() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);  // blocks below 64 MB come from the heap
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

dnnl::engine& dnnl_cpu_engine() {
  static dnnl::engine engine = [] {
    keep_freed_memory_in_heap();
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return engine;
}

dnnl::stream& dnnl_cpu_stream() {
  thread_local dnnl::stream stream(dnnl_cpu_engine());  // a stream is not for concurrent use
  return stream;
}

namespace {
// The forward eltwise algorithm of an elementwise activation other than Linear.
dnnl::algorithm eltwise_algorithm(Activation a) {
  switch (a) {
    case Activation::Relu:
    case Activation::LeakyRelu:  // relu with alpha
      return dnnl::algorithm::eltwise_relu;
    case Activation::Sigmoid:
      return dnnl::algorithm::eltwise_logistic;
    case Activation::Tanh:
      return dnnl::algorithm::eltwise_tanh;
    case Activation::Elu:
      return dnnl::algorithm::eltwise_elu;
    case Activation::Gelu:
      return dnnl::algorithm::eltwise_gelu_erf;
    case Activation::Silu:  // swish with alpha 1
      return dnnl::algorithm::eltwise_swish;
    case Activation::Softplus:
      return dnnl::algorithm::eltwise_soft_relu;
    case Activation::Linear:
    case Activation::Softmax:
      break;
  }
  throw std::runtime_error(std::string("cannot fuse activation ") + activation_name(a));
}
}  // namespace

void append_activation(dnnl::post_ops& ops, Activation a, float alpha) {
  if (a == Activation::Linear) return;
  // The activation's own alpha for leaky_relu and elu, swish's 1 for silu, unused otherwise.
  const float post_alpha = a == Activation::Silu                                ? 1.0f
                           : a == Activation::LeakyRelu || a == Activation::Elu ? alpha
                                                                                : 0.0f;
  ops.append_eltwise(1.0f, eltwise_algorithm(a), post_alpha, 0.0f);
}

dnnl::primitive_attr default_attributes() {
  dnnl::primitive_attr attributes;
  attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attributes;
}

BoundPrimitive::BoundPrimitive(const dnnl::primitive_desc_base& pd) : primitive_(pd.get()) {
  created_primitives.fetch_add(1);
  const dnnl::memory::desc scratchpad = pd.scratchpad_desc();
  if (scratchpad.get_size() == 0) return;
  memories_.emplace_back(scratchpad, dnnl_cpu_engine());  // allocated by oneDNN, lives with the primitive
  arguments_.push_back({DNNL_ARG_SCRATCHPAD, memories_.back().get()});
}

void BoundPrimitive::add_argument(int role, const dnnl::memory::desc& desc) {
  memories_.push_back(dnnl::memory(desc, dnnl_cpu_engine(), DNNL_MEMORY_NONE));
  arguments_.push_back({role, memories_.back().get()});
}

void BoundPrimitive::bind(int role, const void* data) {
  for (size_t i = 0; i < arguments_.size(); ++i) {
    if (arguments_[i].arg != role) continue;
    // oneDNN takes non-const handles for inputs too; it never writes to them.
    memories_[i].set_data_handle(const_cast<void*>(data));
    return;
  }
  HG_ASSERT(false, "argument " + std::to_string(role) + " was not declared for this primitive");
}

void BoundPrimitive::execute() {
  dnnl::error::wrap_c_api(dnnl_primitive_execute(primitive_.get(), dnnl_cpu_stream().get(),
                                                 static_cast<int>(arguments_.size()), arguments_.data()),
                          "could not execute a primitive");
  dnnl_cpu_stream().wait();
}

}  // namespace hg
