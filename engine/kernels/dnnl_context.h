// The process-wide oneDNN engine and stream, and BoundPrimitive: a primitive whose memory arguments are
// bound once at plan time, so that a step only swaps data pointers and runs it. Internal to kernels/.
#pragma once

#include <dnnl.hpp>

#include <cstdint>
#include <vector>

#include "kernels/activation.h"

namespace hg {

// Created on first use. Debian's oneDNN runs on OpenMP, where a CPU stream executes synchronously in the
// calling thread; each thread gets its own stream, so that steps on different threads never share one.
dnnl::engine& dnnl_cpu_engine();
dnnl::stream& dnnl_cpu_stream();

// The C++ API's execute() builds a vector of arguments on every call; BoundPrimitive calls the C API with
// an argument array built once, so nothing on hourglass's side of a step allocates. oneDNN 2.6 itself still
// does inside dnnl_primitive_execute (its argument map, the jit gemm's packing buffers; measured 7-11 small
// mallocs per matmul call, 4-5 per eltwise or softmax call). Different BoundPrimitives may run concurrently;
// one BoundPrimitive may not, since its memory objects hold the current pointers.
class BoundPrimitive {
 public:
  BoundPrimitive() = default;
  // `pd` must have been created with scratchpad_mode::user; its scratchpad is allocated here, once.
  explicit BoundPrimitive(const dnnl::primitive_desc_base& pd);

  // Declares an argument (at construction time only). Its data pointer is set later with bind().
  void add_argument(int role, const dnnl::memory::desc& desc);
  // Points an argument at caller memory; no allocation, no validation beyond the role being declared.
  void bind(int role, const void* data);
  void execute();
  bool empty() const { return !primitive_; }

 private:
  dnnl::primitive primitive_;
  std::vector<dnnl::memory> memories_;  // owns the handles in arguments_, same order
  std::vector<dnnl_exec_arg_t> arguments_;
};

// Attributes every hourglass primitive uses: user scratchpad, so no primitive allocates when it runs.
dnnl::primitive_attr default_attributes();

// Appends the eltwise post-op that applies `a` (an elementwise activation, not Linear) to a primitive's dst
// while it is still in cache; Linear appends nothing. Only forward algorithms: a fused activation's backward
// runs on its own kernels. Throws for softmax.
void append_activation(dnnl::post_ops& ops, Activation a, float alpha);

// Primitives created so far in this process. BoundPrimitive's constructor is the only place hourglass
// creates one, so a test can check that a steady-state step creates none.
int64_t primitives_created();

}  // namespace hg
