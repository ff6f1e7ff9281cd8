// reshape(src, d1, d2, ...): the same elements per sample under new dims; forward and backward are copies.
#include <cstring>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "plan/step_context.h"

namespace hg {
namespace {

StepFunction copy_step(StepContext& context, NodeId id) {
  const float* src = context.input(id, 0);
  float* dst = context.buffer(id);
  const size_t bytes = sizeof(float) * size_t(context.count(id));
  return [=] { std::memcpy(dst, src, bytes); };
}

class ReshapeBackwardOp : public Op {
 public:
  const char* name() const override { return "reshape_backward"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override { return copy_step(context, id); }
} const reshape_backward;

class ReshapeOp : public Op {
 public:
  const char* name() const override { return "reshape"; }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  void verify(const Graph& graph, const Node& n) const override {
    HG_ASSERT(graph.node(n.inputs[0]).elements_per_sample() == n.elements_per_sample(), n.name + ": size");
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 1 + HG_MAX_RANK - 1, {}, sink)) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    std::vector<int64_t> dims;
    bool ok = true;
    for (size_t i = 1; const ast::Arg* arg = positional(call, i); ++i) {
      auto d = positive_integer(*arg->value, "reshape dimension", sink);
      ok = ok && d.has_value();
      dims.push_back(d.value_or(1));
    }
    if (dims.empty()) {
      sink.error(call.location, "reshape needs the new dims: reshape(x, 1, 28, 28)");
      return kNoNode;
    }
    if (inputs.empty() || !ok) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    int64_t count = 1;
    for (int64_t d : dims) count *= d;
    if (!src.batched || count != src.elements_per_sample()) {
      sink.error(call.location, "reshape to " + shape_string(dims) + " (" + std::to_string(count) +
                                    " elements), but '" + src.name + "' has " +
                                    std::to_string(src.elements_per_sample()) + " elements per sample");
      return kNoNode;
    }
    return context.add_node(*this, call.location, inputs, dims, true);
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(reshape_backward, id, 0, {gradient});
  }
  StepFunction bind(StepContext& context, NodeId id) const override { return copy_step(context, id); }
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    std::vector<int64_t> shape = {-1};
    shape.insert(shape.end(), n.dims.begin(), n.dims.end());
    context.reshape(id, context.value(n.inputs[0]), shape, context.value(id));
  }
};

}  // namespace

const Op& reshape_op() {
  static const ReshapeOp op;
  return op;
}

}  // namespace hg
