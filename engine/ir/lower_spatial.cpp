// Lowering of the ops on [C, H, W] samples: conv2d (parameters NAME.weights [OC, C, K, K], NAME.bias [OC]),
// deconv2d (NAME.weights [C, OC, K, K] as PyTorch's ConvTranspose2d), maxpool/avgpool, and reshape. Shapes
// follow oneDNN's rules:
//   conv:   out = (in + 2 pad - kernel) / stride + 1        deconv: out = (in - 1) stride - 2 pad + kernel
//   pool:   out = (in + 2 pad - kernel) / stride + 1
#include <cmath>

#include "ir/lowering.h"

namespace hg::detail {
namespace {

// kernel=, stride=, pad= as small non-negative integers (kernel and stride at least 1).
bool window_attributes(const ast::Expr& call, int64_t default_kernel, int64_t& kernel, int64_t& stride,
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

}  // namespace

static bool spatial_input(const Node& src, const ast::Expr& call, DiagnosticSink& sink) {
  if (src.batched && src.dims.size() == 3) return true;
  sink.error(call.args.front().location,
             call.text + " expects samples shaped [channels, height, width], but '" + src.name + "' is " +
                 shape_string(src.dims) +
                 (src.dims.size() == 1 ? "; reshape it first, e.g. reshape(x, 1, 28, 28)" : ""));
  return false;
}

// conv2d(src, channels, kernel=3, stride=1, pad=0, bias=1) and deconv2d(...), the transposed form.
NodeId Lowering::lower_conv(const ast::Expr& call, bool transposed) {
  if (!check_arguments(call, 2, {"kernel", "stride", "pad", "bias"}, sink_)) return kNoNode;
  if (!claim_parameters(call, call.text.c_str())) return kNoNode;
  const std::vector<NodeId> inputs = lower_inputs(call, 1, "op");
  std::optional<int64_t> channels;
  if (const ast::Arg* arg = positional(call, 1))
    channels = positive_integer(*arg->value, call.text + " channels", sink_);
  else
    sink_.error(call.location,
                call.text + " needs a number of output channels: " + call.text + "(x, 16, kernel=3)");
  int64_t kernel, stride, pad;
  bool ok = window_attributes(call, 3, kernel, stride, pad, false, sink_) && channels.has_value();
  bool has_bias = true;
  if (const ast::Arg* arg = keyword(call, "bias")) {
    auto flag = flag_value(*arg->value, "bias", sink_);
    ok = ok && flag.has_value();
    has_bias = flag.value_or(1) != 0;
  }
  if (inputs.empty() || !ok) return kNoNode;
  const Node src = graph_.node(inputs[0]);
  if (!spatial_input(src, call, sink_)) return kNoNode;
  const int64_t c = src.dims[0], h = src.dims[1], w = src.dims[2];
  auto out_size = [&](int64_t in) {
    return transposed ? (in - 1) * stride - 2 * pad + kernel : (in + 2 * pad - kernel) / stride + 1;
  };
  if ((!transposed && (h + 2 * pad < kernel || w + 2 * pad < kernel)) || out_size(h) < 1 || out_size(w) < 1) {
    sink_.error(call.location, call.text + " '" + current_->name + "': kernel " + std::to_string(kernel) +
                                   ", stride " + std::to_string(stride) + ", pad " + std::to_string(pad) +
                                   " leaves no output from input '" + src.name + "' " +
                                   shape_string(src.dims));
    return kNoNode;
  }
  Node n;
  n.op = OpKind::Conv;
  n.name = current_->name + "." + call.text;
  n.location = call.location;
  // Transposed weights are (in, out, k, k), PyTorch's ConvTranspose2d layout (kernels/conv.h).
  const std::vector<int64_t> weight_dims = transposed ? std::vector<int64_t>{c, *channels, kernel, kernel}
                                                      : std::vector<int64_t>{*channels, c, kernel, kernel};
  n.inputs = {inputs[0], add_parameter("weights", weight_dims, call.location)};
  if (has_bias) n.inputs.push_back(add_parameter("bias", {*channels}, call.location));
  n.dims = {*channels, out_size(h), out_size(w)};
  n.batched = true;
  n.units = *channels;
  n.kernel = kernel;
  n.stride = stride;
  n.pad = pad;
  n.transposed_weights = transposed;
  return graph_.add(std::move(n));
}

// maxpool(src, kernel=2, stride=kernel, pad=0), avgpool(...) (padding excluded from averages).
NodeId Lowering::lower_pool(const ast::Expr& call, bool max) {
  if (!check_arguments(call, 1, {"kernel", "stride", "pad"}, sink_)) return kNoNode;
  const std::vector<NodeId> inputs = lower_inputs(call, 1, "op");
  int64_t kernel, stride, pad;
  const bool ok = window_attributes(call, 2, kernel, stride, pad, true, sink_);
  if (inputs.empty() || !ok) return kNoNode;
  const Node src = graph_.node(inputs[0]);
  if (!spatial_input(src, call, sink_)) return kNoNode;
  if (pad >= kernel || src.dims[1] + 2 * pad < kernel || src.dims[2] + 2 * pad < kernel) {
    sink_.error(call.location, call.text + ": kernel " + std::to_string(kernel) + " with pad " +
                                   std::to_string(pad) + " does not fit input '" + src.name + "' " +
                                   shape_string(src.dims) + " (pad must also be smaller than the kernel)");
    return kNoNode;
  }
  Node n;
  n.op = OpKind::Pool;
  n.name = current_->name + "." + call.text;
  n.location = call.location;
  n.inputs = inputs;
  n.dims = {src.dims[0], (src.dims[1] + 2 * pad - kernel) / stride + 1,
            (src.dims[2] + 2 * pad - kernel) / stride + 1};
  n.batched = true;
  n.kernel = kernel;
  n.stride = stride;
  n.pad = pad;
  n.max_pool = max;
  return graph_.add(std::move(n));
}

// reshape(src, d1, d2, ...): the same elements per sample, new dims.
NodeId Lowering::lower_reshape(const ast::Expr& call) {
  if (!check_arguments(call, 1 + HG_MAX_RANK - 1, {}, sink_)) return kNoNode;
  const std::vector<NodeId> inputs = lower_inputs(call, 1, "op");
  std::vector<int64_t> dims;
  bool ok = true;
  for (size_t i = 1; const ast::Arg* arg = positional(call, i); ++i) {
    auto d = positive_integer(*arg->value, "reshape dimension", sink_);
    ok = ok && d.has_value();
    dims.push_back(d.value_or(1));
  }
  if (dims.empty()) {
    sink_.error(call.location, "reshape needs the new dims: reshape(x, 1, 28, 28)");
    return kNoNode;
  }
  if (inputs.empty() || !ok) return kNoNode;
  const Node src = graph_.node(inputs[0]);
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  if (!src.batched || count != src.elements_per_sample()) {
    sink_.error(call.location, "reshape to " + shape_string(dims) + " (" + std::to_string(count) +
                                   " elements), but '" + src.name + "' has " +
                                   std::to_string(src.elements_per_sample()) + " elements per sample");
    return kNoNode;
  }
  Node n;
  n.op = OpKind::Reshape;
  n.name = current_->name + ".reshape";
  n.location = call.location;
  n.inputs = inputs;
  n.dims = dims;
  n.batched = true;
  return graph_.add(std::move(n));
}

}  // namespace hg::detail
