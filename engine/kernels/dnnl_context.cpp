// The process-wide oneDNN engine and stream, and BoundPrimitive's argument plumbing (see dnnl_context.h).
#include "kernels/dnnl_context.h"

#include "support/diagnostics.h"

namespace hg {

dnnl::engine& dnnl_cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& dnnl_cpu_stream() {
  static dnnl::stream stream(dnnl_cpu_engine());
  return stream;
}

dnnl::primitive_attr default_attributes() {
  dnnl::primitive_attr attributes;
  attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attributes;
}

BoundPrimitive::BoundPrimitive(const dnnl::primitive_desc& pd) : primitive_(pd) {
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
