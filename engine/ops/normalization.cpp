// batchnorm(x, momentum=0.1, epsilon=1e-5) and layernorm(x, epsilon=1e-5): normalization with a learnable
// scale NAME.weights (ones) and shift NAME.bias (zeros); batchnorm also keeps running statistics as buffers.
// oneDNN's batch and layer normalization (kernels/normalization.h), over (N, C, S) samples: [C, H, W] is
// S = H*W, [F] is C = F, S = 1.
#include <algorithm>
#include <cstdio>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "kernels/normalization.h"
#include "plan/step_context.h"

namespace hg {
namespace {

std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

// batchnorm: per feature of [F], per channel of [C,H,W], over the batch (and pixels). Training uses the
// batch's statistics and moves the buffers NAME.running_mean (zeros) and NAME.running_var (ones), as PyTorch
// does: r = (1 - momentum) r + momentum s, with the unbiased variance; every other plan uses them.
// layernorm: per sample, over all its elements, in every mode; its scale and shift are per element.
struct NormAttributes : Attributes {
  bool batch = true;  // batchnorm; layernorm otherwise
  double momentum = 0.1, epsilon = 1e-5;
};

std::shared_ptr<NormKernels> norm_kernels(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  return context.shared_kernel<NormKernels>(forward, [&] {
    const Node& f = context.node(forward);
    const Node& src = context.node(f.inputs[0]);
    const auto& a = f.attributes_as<NormAttributes>();
    const int64_t c = src.dims[0];
    NormShape shape{
        context.batch(), c, src.elements_per_sample() / c, !a.batch, a.batch && !context.training(),
        float(a.epsilon)};
    return std::make_shared<NormKernels>(shape);
  });
}

class NormBackwardDataOp : public Op {
 public:
  const char* name() const override { return "norm_backward_data"; }
  int arity() const override { return 3; }  // diff_dst, src, weights
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = norm_kernels(context, id);
    const float *dy = context.input(id, 0), *x = context.input(id, 1), *gamma = context.input(id, 2);
    float* dx = context.buffer(id);
    return [=] { k->backward_data(dy, x, gamma, dx); };
  }
} const backward_data;

// One node per parameter, as dense does: either may be frozen, so each exists only when needed. When the
// data gradient's node exists it is a third input, so that these run after it and copy the gradients its
// oneDNN pass computed; otherwise they sum their own.
class NormBackwardParameterOp : public Op {
 public:
  explicit NormBackwardParameterOp(bool weights) : weights_(weights) {}
  const char* name() const override { return weights_ ? "norm_backward_weights" : "norm_backward_bias"; }
  // diff_dst, src, and the data gradient when there is one
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = norm_kernels(context, id);
    const float *dy = context.input(id, 0), *x = context.input(id, 1);
    float* dst = context.buffer(id);
    const bool weights = weights_;
    if (context.node(id).inputs.size() > 2) {
      const int64_t count = k->shape().parameters();
      return [=] {
        const float* computed = weights ? k->diff_scale() : k->diff_shift();
        std::copy(computed, computed + count, dst);
      };
    }
    if (weights) return [=] { k->backward_scale(dy, x, dst); };
    return [=] { k->backward_shift(dy, dst); };
  }

 private:
  bool weights_;
};
const NormBackwardParameterOp backward_weights(true), backward_bias(false);

class NormOp : public Op {
 public:
  explicit NormOp(bool batch) : batch_(batch) {}
  const char* name() const override { return batch_ ? "batchnorm" : "layernorm"; }
  bool callable() const override { return true; }
  void verify(const Graph& graph, const Node& n) const override {
    HG_ASSERT(n.inputs.size() == (batch_ ? 5u : 3u), n.name);
    HG_ASSERT(graph.node(n.inputs[0]).dims == n.dims, n.name + ": shape");
  }
  std::string describe(const Graph&, const Node& n) const override {
    const auto& a = n.attributes_as<NormAttributes>();
    return batch_ ? "batchnorm(momentum " + number_text(a.momentum) + ")" : "layernorm";
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    const std::vector<std::string> keywords =
        batch_ ? std::vector<std::string>{"momentum", "epsilon"} : std::vector<std::string>{"epsilon"};
    if (!check_arguments(call, 1, keywords, sink)) return kNoNode;
    if (!context.claim_parameters(call, name())) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    auto a = std::make_shared<NormAttributes>();
    a->batch = batch_;
    bool ok = true;
    auto read = [&](const char* key, double& out, double low, double high, const char* bounds) {
      const ast::Arg* arg = keyword(call, key);
      if (!arg) return;
      auto v = constant_value(*arg->value, sink);
      if (v && *v > low && *v <= high) {
        out = *v;
        return;
      }
      if (v)
        sink.error(arg->value->location, std::string("'") + key + "' of " + name() + " must be in " + bounds +
                                             ", got " + number_text(*v));
      ok = false;
    };
    read("momentum", a->momentum, 0, 1, "(0, 1]");
    read("epsilon", a->epsilon, 0, 1, "(0, 1]");
    if (inputs.empty() || !ok) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    if (!src.batched || (src.dims.size() != 1 && src.dims.size() != 3)) {
      sink.error(positional(call, 0)->value->location,
                 std::string(name()) +
                     " expects samples shaped [features] or [channels, height, width], but '" + src.name +
                     "' is " + (src.batched ? shape_string(src.dims) : std::string("a parameter")));
      return kNoNode;
    }
    const int64_t width = batch_ ? src.dims[0] : src.elements_per_sample();
    Node n;
    n.op = this;
    n.name = context.statement_name() + "." + name();
    n.location = call.location;
    n.inputs = {inputs[0], context.add_parameter("weights", {width}, call.location, 1.0f),
                context.add_parameter("bias", {width}, call.location, 0.0f)};
    if (batch_) {
      n.inputs.push_back(context.add_buffer("running_mean", {width}, call.location, 0.0f));
      n.inputs.push_back(context.add_buffer("running_var", {width}, call.location, 1.0f));
    }
    n.dims = src.dims;
    n.batched = true;
    n.attributes = a;
    return context.add(std::move(n));
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    const Node& n = context.node(id);
    const NodeId src = n.inputs[0], weights = n.inputs[1];
    std::vector<NodeId> parameter_inputs = {gradient, src};
    if (context.needs(src)) {  // what input_gradient does, keeping the node's id
      const std::string name = "d" + n.name + "/d" + context.node(src).name;
      const NodeId data = context.add(backward_data, id, {gradient, src, weights}, src, name);
      context.contribute(src, data);
      parameter_inputs.push_back(data);
    }
    context.input_gradient(backward_weights, id, 1, parameter_inputs);
    context.input_gradient(backward_bias, id, 2, parameter_inputs);
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = norm_kernels(context, id);
    const float *x = context.input(id, 0), *gamma = context.input(id, 1), *beta = context.input(id, 2);
    float* y = context.buffer(id);
    if (!batch_) return [=] { k->forward(x, gamma, beta, y); };
    float *running_mean = context.input(id, 3), *running_var = context.input(id, 4);
    if (!context.training()) return [=] { k->forward(x, gamma, beta, y, running_mean, running_var); };
    // r = (1 - momentum) r + momentum s, s the batch mean and the unbiased variance (the kernel's is biased).
    const double momentum = context.node(id).attributes_as<NormAttributes>().momentum;
    const int64_t channels = k->shape().channels, m = k->shape().batch * k->shape().pixels;
    const double unbias = m > 1 ? double(m) / double(m - 1) : 1.0;
    return [=] {
      k->forward(x, gamma, beta, y);
      const float *mean = k->mean(), *variance = k->variance();
      for (int64_t c = 0; c < channels; ++c) {
        running_mean[c] = float((1 - momentum) * running_mean[c] + momentum * mean[c]);
        running_var[c] = float((1 - momentum) * running_var[c] + momentum * unbias * variance[c]);
      }
    };
  }
  // Evaluation: BatchNormalization with the running statistics (its inference form); LayerNormalization
  // over every dim of a sample (axis 1), its per-element scale and shift given the sample's shape.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const OnnxAttribute epsilon =
        OnnxAttribute::real("epsilon", float(n.attributes_as<NormAttributes>().epsilon));
    std::vector<std::string> inputs;
    for (NodeId input : n.inputs) inputs.push_back(context.value(input));
    if (batch_) {
      context.add(id, "BatchNormalization", inputs, {context.value(id)}, {epsilon});
      return;
    }
    if (n.dims.size() > 1) {
      inputs[1] = context.reshape(id, inputs[1], n.dims, context.temporary(id, "scale"));
      inputs[2] = context.reshape(id, inputs[2], n.dims, context.temporary(id, "shift"));
    }
    context.add(id, "LayerNormalization", inputs, {context.value(id)},
                {OnnxAttribute::integer("axis", 1), epsilon});
  }

 private:
  bool batch_;
};

}  // namespace

const Op& batchnorm_op() {
  static const NormOp op(true);
  return op;
}
const Op& layernorm_op() {
  static const NormOp op(false);
  return op;
}

}  // namespace hg
