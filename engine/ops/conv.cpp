// conv2d(src, channels, kernel=3, stride=1, pad=0, bias=1) and deconv2d(...), the transposed form, on oneDNN
// (kernels/conv.h). Parameters NAME.weights [OC, C, K, K] (deconv: [C, OC, K, K], PyTorch's ConvTranspose2d
// layout) and NAME.bias [OC]. Shapes follow oneDNN's rules:
//   conv:   out = (in + 2 pad - kernel) / stride + 1        deconv: out = (in - 1) stride - 2 pad + kernel
#include "kernels/conv.h"
#include "autodiff/gradient_context.h"
#include "ir/onnx.h"
#include "kernels/threading.h"
#include "ops/activation.h"
#include "ops/spatial.h"
#include "plan/step_context.h"

namespace hg {
namespace {

struct ConvAttributes : Attributes {
  int64_t channels = 0, kernel = 0, stride = 1, pad = 0;
  bool transposed = false;
};

// One kernel object per layer and plan, shared by the forward and both backward nodes (the bias gradient is
// its own node, so backward weights runs without it).
std::shared_ptr<ConvKernels> conv_kernels(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  const Node& f = context.node(forward);
  const Node& src = context.node(f.inputs[0]);
  const auto& a = f.attributes_as<ConvAttributes>();
  ConvShape shape{context.batch(), src.dims[0],  src.dims[1],        src.dims[2], a.channels,
                  a.kernel,        a.kernel,     a.stride,           a.stride,    a.pad,
                  a.pad,           a.transposed, f.inputs.size() > 2};
  shape.training = context.training();
  const NodeId fused = context.fused_activation(forward);
  if (fused != kNoNode) {
    const auto& activation = context.node(fused).attributes_as<ActivationAttributes>();
    shape.activation = activation.kind;
    shape.alpha = activation.alpha;
  }
  return context.shared_kernel<ConvKernels>(forward, [&] { return std::make_shared<ConvKernels>(shape); });
}

class ConvBackwardDataOp : public Op {
 public:
  const char* name() const override { return "conv_backward_data"; }
  int arity() const override { return 2; }  // diff_dst, weights
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = conv_kernels(context, id);
    float *diff_dst = context.input(id, 0), *weights = context.input(id, 1), *dst = context.buffer(id);
    return [=] { k->backward_data(diff_dst, weights, dst); };
  }
} const backward_data;

class ConvBackwardWeightsOp : public Op {
 public:
  const char* name() const override { return "conv_backward_weights"; }
  int arity() const override { return 2; }  // diff_dst, src
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = conv_kernels(context, id);
    float *diff_dst = context.input(id, 0), *src = context.input(id, 1), *dst = context.buffer(id);
    return [=] { k->backward_weights(diff_dst, src, dst, nullptr); };
  }
} const backward_weights;

// diff_bias (OC) = sum over N, H, W of diff_dst (N, OC, H, W)
class ConvBackwardBiasOp : public Op {
 public:
  const char* name() const override { return "conv_backward_bias"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    const Node& f = context.node(context.forward_of(id));
    float *diff_dst = context.input(id, 0), *dst = context.buffer(id);
    const int64_t batch = context.batch(), channels = f.dims[0], plane = f.dims[1] * f.dims[2];
    return [=] {
      parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          // Eight interleaved partial sums, which vectorize, where one chain waited on every add's latency
          // (0.16 ms for a 16-channel 14x14 layer at batch 128, now 0.03).
          double sums[8] = {}, tail = 0;
          for (int64_t s = 0; s < batch; ++s) {
            const float* p = diff_dst + (s * channels + c) * plane;
            int64_t i = 0;
            for (; i + 8 <= plane; i += 8)
              for (int j = 0; j < 8; ++j) sums[j] += p[i + j];
            for (; i < plane; ++i) tail += p[i];
          }
          dst[c] = float(((sums[0] + sums[1]) + (sums[2] + sums[3])) +
                         ((sums[4] + sums[5]) + (sums[6] + sums[7])) + tail);
        }
      });
    };
  }
} const backward_bias;

class ConvOp : public Op {
 public:
  explicit ConvOp(bool transposed) : transposed_(transposed) {}
  const char* name() const override { return transposed_ ? "deconv2d" : "conv2d"; }
  bool callable() const override { return true; }
  // A convolution applies a following activation as a post-op (bit for bit the activation's own result,
  // without its pass over the batch). oneDNN 2.6's transposed convolution applies post-ops in a reference
  // loop after the fact: with relu fused, the conv AE's d1 took 6.2 ms instead of 0.9.
  bool takes_fused_activation() const override { return !transposed_; }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override;
  std::string describe(const Graph&, const Node& n) const override {
    const auto& a = n.attributes_as<ConvAttributes>();
    return std::string(name()) + "(" + std::to_string(a.channels) + ", k" + std::to_string(a.kernel) + " s" +
           std::to_string(a.stride) + " p" + std::to_string(a.pad) + ")";
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    const Node& n = context.node(id);
    const NodeId src = n.inputs[0], weights = n.inputs[1];
    const bool has_bias = n.inputs.size() > 2;
    context.input_gradient(backward_data, id, 0, {gradient, weights});
    context.input_gradient(backward_weights, id, 1, {gradient, src});
    if (has_bias) context.input_gradient(backward_bias, id, 2, {gradient});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = conv_kernels(context, id);
    const Node& n = context.node(id);
    float *src = context.input(id, 0), *weights = context.input(id, 1);
    float *bias = n.inputs.size() > 2 ? context.input(id, 2) : nullptr, *dst = context.buffer(id);
    return [=] { k->forward(src, weights, bias, dst); };
  }
  // Conv and ConvTranspose take the weights in the layouts above, and their size rules are oneDNN's.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const auto& a = n.attributes_as<ConvAttributes>();
    std::vector<std::string> inputs;
    for (NodeId input : n.inputs) inputs.push_back(context.value(input));
    context.add(id, transposed_ ? "ConvTranspose" : "Conv", inputs, {context.value(id)},
                {OnnxAttribute::integers("kernel_shape", {a.kernel, a.kernel}),
                 OnnxAttribute::integers("strides", {a.stride, a.stride}),
                 OnnxAttribute::integers("pads", {a.pad, a.pad, a.pad, a.pad})});
  }

 private:
  bool transposed_;
};

NodeId ConvOp::lower(LowerContext& context, const ast::Expr& call) const {
  DiagnosticSink& sink = context.sink();
  if (!check_arguments(call, 2, {"kernel", "stride", "pad", "bias"}, sink)) return kNoNode;
  if (!context.claim_parameters(call, call.text.c_str())) return kNoNode;
  const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
  std::optional<int64_t> channels;
  if (const ast::Arg* arg = positional(call, 1))
    channels = positive_integer(*arg->value, call.text + " channels", sink);
  else
    sink.error(call.location,
               call.text + " needs a number of output channels: " + call.text + "(x, 16, kernel=3)");
  int64_t kernel, stride, pad;
  bool ok = window_attributes(call, 3, kernel, stride, pad, false, sink) && channels.has_value();
  bool has_bias = true;
  if (const ast::Arg* arg = keyword(call, "bias")) {
    auto flag = flag_value(*arg->value, "bias", sink);
    ok = ok && flag.has_value();
    has_bias = flag.value_or(1) != 0;
  }
  if (inputs.empty() || !ok) return kNoNode;
  const Node src = context.graph().node(inputs[0]);
  if (!spatial_input(src, call, sink)) return kNoNode;
  const int64_t c = src.dims[0], h = src.dims[1], w = src.dims[2];
  auto out_size = [&](int64_t in) {
    return transposed_ ? (in - 1) * stride - 2 * pad + kernel : (in + 2 * pad - kernel) / stride + 1;
  };
  if ((!transposed_ && (h + 2 * pad < kernel || w + 2 * pad < kernel)) || out_size(h) < 1 ||
      out_size(w) < 1) {
    sink.error(call.location, call.text + " '" + context.statement_name() + "': kernel " +
                                  std::to_string(kernel) + ", stride " + std::to_string(stride) + ", pad " +
                                  std::to_string(pad) + " leaves no output from input '" + src.name + "' " +
                                  shape_string(src.dims));
    return kNoNode;
  }
  Node n;
  n.op = this;
  n.name = context.statement_name() + "." + call.text;
  n.location = call.location;
  const std::vector<int64_t> weight_dims = transposed_ ? std::vector<int64_t>{c, *channels, kernel, kernel}
                                                       : std::vector<int64_t>{*channels, c, kernel, kernel};
  const int64_t fan_in = (transposed_ ? *channels : c) * kernel * kernel;  // PyTorch's count for both
  n.inputs = {inputs[0], context.add_parameter("weights", weight_dims, call.location, 0, fan_in)};
  if (has_bias) n.inputs.push_back(context.add_parameter("bias", {*channels}, call.location, 0, fan_in));
  n.dims = {*channels, out_size(h), out_size(w)};
  n.batched = true;
  auto attributes = std::make_shared<ConvAttributes>();
  attributes->channels = *channels;
  attributes->kernel = kernel;
  attributes->stride = stride;
  attributes->pad = pad;
  attributes->transposed = transposed_;
  n.attributes = attributes;
  return context.add(std::move(n));
}

}  // namespace

const Op& conv2d_op() {
  static const ConvOp op(false);
  return op;
}
const Op& deconv2d_op() {
  static const ConvOp op(true);
  return op;
}

}  // namespace hg
