// Activations: linear, relu, sigmoid, tanh (elementwise, fusable into the op that produces their input)
// and softmax (row-wise). The backward pass reads the forward's dst, not its src, which is all these need.
//   forward:  dst = f(src)            backward: diff_src = diff_dst * f'(from dst)
#include "ops/activation.h"

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "plan/step_context.h"

namespace hg {
namespace {

std::shared_ptr<ActivationKernels> activation_kernels(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  return context.shared_kernel<ActivationKernels>(forward, [&] {
    const Node& f = context.node(forward);
    return std::make_shared<ActivationKernels>(f.attributes_as<ActivationAttributes>().kind, context.batch(),
                                               f.elements_per_sample());
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

class ActivationOp : public Op {
 public:
  explicit ActivationOp(Activation kind) : kind_(kind) {}
  const char* name() const override { return activation_name(kind_); }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  bool fusable_activation(const Node&) const override { return is_elementwise(kind_); }

  // relu(x), x |> sigmoid: the same shape as its input, which must be a batch.
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    if (!check_arguments(call, 1, {}, context.sink())) return kNoNode;
    std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    if (inputs.empty()) return kNoNode;
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
    n.attributes = attributes;
    return context.add(std::move(n));
  }

  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(activation_backward, id, 0, {gradient, id});
  }

  StepFunction bind(StepContext& context, NodeId id) const override {
    if (context.fused(id)) return [] {};  // its producer's kernel already applied it
    auto k = activation_kernels(context, id);
    float *src = context.input(id, 0), *dst = context.buffer(id);
    return [=] { k->forward(src, dst); };
  }

 private:
  Activation kind_;
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
