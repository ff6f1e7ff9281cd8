// Shared by the ops on [C, H, W] samples (conv.cpp, pool.cpp): their window attributes and input check.
#pragma once

#include <cmath>

#include "ir/lower_context.h"
#include "ir/lower_util.h"

namespace hg {

// kernel=, stride=, pad= as small non-negative integers (kernel and stride at least 1).
inline bool window_attributes(const ast::Expr& call, int64_t default_kernel, int64_t& kernel, int64_t& stride,
                              int64_t& pad, bool stride_defaults_to_kernel, DiagnosticSink& sink) {
  bool ok = true;
  auto read = [&](const char* name, int64_t& out, int64_t minimum) {
    const ast::Arg* arg = keyword(call, name);
    if (!arg) return;
    auto v = constant_value(*arg->value, sink);
    if (!v) {
      ok = false;
    } else if (*v != std::floor(*v) || *v < double(minimum) || *v > 4096) {
      sink.error(arg->value->location, std::string("'") + name + "' of " + call.text +
                                           " must be an integer >= " + std::to_string(minimum) + ", got " +
                                           ast::to_string(*arg->value));
      ok = false;
    } else {
      out = int64_t(*v);
    }
  };
  kernel = default_kernel;
  read("kernel", kernel, 1);
  stride = stride_defaults_to_kernel ? kernel : 1;
  pad = 0;
  read("stride", stride, 1);
  read("pad", pad, 0);
  return ok;
}

inline bool spatial_input(const Node& src, const ast::Expr& call, DiagnosticSink& sink) {
  if (src.batched && src.dims.size() == 3) return true;
  sink.error(call.args.front().location,
             call.text + " expects samples shaped [channels, height, width], but '" + src.name + "' is " +
                 shape_string(src.dims) +
                 (src.dims.size() == 1 ? "; reshape it first, e.g. reshape(x, 1, 28, 28)" : ""));
  return false;
}

}  // namespace hg
