// Activations: linear, relu, sigmoid, tanh, leaky_relu(alpha), elu(alpha), gelu, silu, softplus (elementwise,
// fusable into the op that produces their input) and softmax (row-wise).
//   forward:  dst = f(src)            backward: diff_src = diff_dst * f'(from dst, or src for gelu, silu and
//                                                                       softplus)
// An activation whose backward reads src is only fused where nothing differentiates it (evaluation): in
// training its backward node is a second reader of the producer's output, which keeps the two apart.
#include "ops/activation.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "plan/step_context.h"

namespace hg {
namespace {

std::shared_ptr<ActivationKernels> activation_kernels(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  return context.shared_kernel<ActivationKernels>(forward, [&] {
    const Node& f = context.node(forward);
    const auto& a = f.attributes_as<ActivationAttributes>();
    return std::make_shared<ActivationKernels>(a.kind, context.batch(), f.elements_per_sample(), a.alpha);
  });
}

class ActivationBackwardOp : public Op {
 public:
  const char* name() const override { return "activation_backward"; }
  int arity() const override { return 2; }  // diff_dst, the forward's dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = activation_kernels(context, id);
    float *diff_dst = context.input(id, 0), *forward_dst = context.input(id, 1), *dst = context.buffer(id);
    return [=] { k->backward(diff_dst, forward_dst, dst); };
  }
};
const ActivationBackwardOp activation_backward;

class ActivationBackwardFromSourceOp : public Op {
 public:
  const char* name() const override { return "activation_backward"; }
  int arity() const override { return 3; }  // diff_dst, the forward's dst, the forward's src
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = activation_kernels(context, id);
    float *diff_dst = context.input(id, 0), *forward_dst = context.input(id, 1), *src = context.input(id, 2);
    float* dst = context.buffer(id);
    return [=] { k->backward(diff_dst, forward_dst, dst, src); };
  }
};
const ActivationBackwardFromSourceOp activation_backward_from_source;

// alpha= of leaky_relu and elu: its default and bounds. It may not be negative, so that dst > 0 exactly where
// src > 0 and the backward can read dst; a leaky slope of 1 or more would no longer be a non-linearity.
struct AlphaRule {
  double fallback;
  double below;  // alpha must be < below
};

class ActivationOp : public Op {
 public:
  explicit ActivationOp(Activation kind, std::optional<AlphaRule> alpha = std::nullopt)
      : kind_(kind), alpha_(alpha) {}
  const char* name() const override { return activation_name(kind_); }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  bool fusable_activation(const Node&) const override { return is_elementwise(kind_); }

  // relu(x), x |> sigmoid: the same shape as its input, which must be a batch.
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    if (!check_arguments(call, 1, alpha_ ? std::vector<std::string>{"alpha"} : std::vector<std::string>{},
                         context.sink()))
      return kNoNode;
    float alpha = alpha_ ? float(alpha_->fallback) : 0.f;
    bool ok = true;
    if (const ast::Arg* arg = alpha_ ? keyword(call, "alpha") : nullptr) {
      DiagnosticSink quiet;  // "expected a number" alone would not say which setting wants one
      const std::optional<double> value = constant_value(*arg->value, quiet);
      ok = value.has_value();
      if (!value)
        context.sink().error(arg->value->location, std::string(name()) + " alpha is a number, found '" +
                                                       ast::to_string(*arg->value) + "'");
      if (value && !(*value >= 0 && *value < alpha_->below)) {
        context.sink().error(arg->value->location,
                             std::string(name()) + " alpha must be at least 0" +
                                 (std::isfinite(alpha_->below) ? " and below " + number(alpha_->below) : "") +
                                 ", got " + number(*value));
        ok = false;
      }
      alpha = float(value.value_or(0));
    }
    std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    if (inputs.empty() || !ok) return kNoNode;
    const Node& src = context.graph().node(inputs[0]);
    if (!src.batched) {
      context.sink().error(
          positional(call, 0)->value->location,
          std::string(name()) + " expects a batch of samples, but '" + src.name + "' is a parameter");
      return kNoNode;
    }
    Node n;
    n.op = this;
    n.name = context.statement_name() + "." + name();
    n.location = call.location;
    n.inputs = inputs;
    n.dims = src.dims;
    n.batched = true;
    auto attributes = std::make_shared<ActivationAttributes>();
    attributes->kind = kind_;
    attributes->alpha = alpha;
    n.attributes = attributes;
    return context.add(std::move(n));
  }

  std::string describe(const Graph&, const Node& n) const override {
    if (!alpha_) return name();
    return std::string(name()) + "(alpha=" + number(n.attributes_as<ActivationAttributes>().alpha) + ")";
  }

  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    if (needs_src_for_backward(kind_))
      context.input_gradient(activation_backward_from_source, id, 0,
                             {gradient, id, context.node(id).inputs[0]});
    else
      context.input_gradient(activation_backward, id, 0, {gradient, id});
  }

  StepFunction bind(StepContext& context, NodeId id) const override {
    if (context.fused(id)) return [] {};  // its producer's kernel already applied it
    auto k = activation_kernels(context, id);
    float *src = context.input(id, 0), *dst = context.buffer(id);
    return [=] { k->forward(src, dst); };
  }

  // One ONNX op each where ONNX has it. gelu is the erf form (as the kernels compute it) spelled out, since
  // ONNX's Gelu only arrived in opset 20; silu is x * sigmoid(x); softmax normalizes each sample as a whole
  // row, as the kernel does, so a multi-dimensional sample is flattened around it.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const float alpha = n.attributes_as<ActivationAttributes>().alpha;
    const std::string x = context.value(n.inputs[0]), y = context.value(id);
    switch (kind_) {
      case Activation::Linear:
        context.unary(id, "Identity", x, y);
        return;
      case Activation::Relu:
        context.unary(id, "Relu", x, y);
        return;
      case Activation::Sigmoid:
        context.unary(id, "Sigmoid", x, y);
        return;
      case Activation::Tanh:
        context.unary(id, "Tanh", x, y);
        return;
      case Activation::Softplus:
        context.unary(id, "Softplus", x, y);
        return;
      case Activation::LeakyRelu:
        context.unary(id, "LeakyRelu", x, y, {OnnxAttribute::real("alpha", alpha)});
        return;
      case Activation::Elu:
        context.unary(id, "Elu", x, y, {OnnxAttribute::real("alpha", alpha)});
        return;
      case Activation::Silu:
        context.add(id, "Mul", {x, context.unary(id, "Sigmoid", x, context.temporary(id, "sigmoid"))}, {y});
        return;
      case Activation::Gelu: {  // x * 0.5 (1 + erf(x / sqrt 2))
        const std::string scaled = context.temporary(id, "scaled"), erf = context.temporary(id, "erf"),
                          plus = context.temporary(id, "plus_one"), half = context.temporary(id, "half");
        context.add(id, "Div", {x, context.constant(id, "sqrt2", {}, {float(std::sqrt(2.0))})}, {scaled});
        context.unary(id, "Erf", scaled, erf);
        context.add(id, "Add", {erf, context.constant(id, "one", {}, {1.0f})}, {plus});
        context.add(id, "Mul", {x, context.constant(id, "half", {}, {0.5f})}, {half});
        context.add(id, "Mul", {half, plus}, {y});
        return;
      }
      case Activation::Softmax: {
        const std::string rows = context.rows(id, n.inputs[0]);
        const OnnxAttribute axis = OnnxAttribute::integer("axis", 1);
        if (n.dims.size() == 1) {
          context.unary(id, "Softmax", rows, y, {axis});
          return;
        }
        std::vector<int64_t> shape = {-1};
        shape.insert(shape.end(), n.dims.begin(), n.dims.end());
        context.reshape(id, context.unary(id, "Softmax", rows, context.temporary(id, "rows_softmax"), {axis}),
                        shape, y);
        return;
      }
    }
    HG_ASSERT(false, std::string("no ONNX mapping for activation ") + name());
  }

 private:
  static std::string number(double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return text;
  }
  Activation kind_;
  std::optional<AlphaRule> alpha_;
};

}  // namespace

const Op& linear_op() {
  static const ActivationOp op(Activation::Linear);
  return op;
}
const Op& relu_op() {
  static const ActivationOp op(Activation::Relu);
  return op;
}
const Op& sigmoid_op() {
  static const ActivationOp op(Activation::Sigmoid);
  return op;
}
const Op& tanh_op() {
  static const ActivationOp op(Activation::Tanh);
  return op;
}
const Op& softmax_op() {
  static const ActivationOp op(Activation::Softmax);
  return op;
}

}  // namespace hg

namespace hg {

const Op& leaky_relu_op() {
  static const ActivationOp op(Activation::LeakyRelu, AlphaRule{0.01, 1});
  return op;
}
const Op& elu_op() {
  static const ActivationOp op(Activation::Elu, AlphaRule{1, std::numeric_limits<double>::infinity()});
  return op;
}
const Op& gelu_op() {
  static const ActivationOp op(Activation::Gelu);
  return op;
}
const Op& silu_op() {
  static const ActivationOp op(Activation::Silu);
  return op;
}
const Op& softplus_op() {
  static const ActivationOp op(Activation::Softplus);
  return op;
}

}  // namespace hg
