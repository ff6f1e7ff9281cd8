// upsample(x, factor=2): nearest-neighbour upsampling of [C, H, W] samples to [C, H*f, W*f], the inverse
// of a stride-f pooling in a convolutional decoder. Its backward sums each f x f block of the gradient.
// On oneDNN's nearest resampling (kernels/upsample.h).
#include "kernels/upsample.h"
#include "autodiff/gradient_context.h"
#include "ir/onnx.h"
#include "ops/spatial.h"
#include "plan/step_context.h"

namespace hg {
namespace {

struct UpsampleAttributes : Attributes {
  int64_t factor = 2;
};

std::shared_ptr<UpsampleKernels> upsample_kernels(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  const Node& f = context.node(forward);
  const Node& src = context.node(f.inputs[0]);
  const UpsampleShape shape{context.batch(), src.dims[0], src.dims[1], src.dims[2],
                            f.attributes_as<UpsampleAttributes>().factor};
  return context.shared_kernel<UpsampleKernels>(forward,
                                                [&] { return std::make_shared<UpsampleKernels>(shape); });
}

class UpsampleBackwardOp : public Op {
 public:
  const char* name() const override { return "upsample_backward"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = upsample_kernels(context, id);
    const float* diff_dst = context.input(id, 0);
    float* dst = context.buffer(id);
    return [=] { k->backward(diff_dst, dst); };
  }
} const upsample_backward;

class UpsampleOp : public Op {
 public:
  const char* name() const override { return "upsample"; }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  std::string describe(const Graph&, const Node& n) const override {
    return "upsample(x" + std::to_string(n.attributes_as<UpsampleAttributes>().factor) + ")";
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 1, {"factor"}, sink)) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    std::optional<int64_t> factor = 2;
    if (const ast::Arg* arg = keyword(call, "factor")) {
      factor = positive_integer(*arg->value, "upsample factor", sink);
      if (factor && *factor > 64) {
        sink.error(arg->value->location,
                   "upsample factor must be at most 64, got " + std::to_string(*factor));
        factor.reset();
      }
    }
    if (inputs.empty() || !factor) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    if (!spatial_input(src, call, sink)) return kNoNode;
    auto attributes = std::make_shared<UpsampleAttributes>();
    attributes->factor = *factor;
    return context.add_node(*this, call.location, inputs,
                            {src.dims[0], src.dims[1] * *factor, src.dims[2] * *factor}, true, attributes);
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(upsample_backward, id, 0, {gradient});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = upsample_kernels(context, id);
    const float* src = context.input(id, 0);
    float* dst = context.buffer(id);
    return [=] { k->forward(src, dst); };
  }
  // Resize, nearest, in the coordinates that read dst[y] = src[floor(y / f)]: asymmetric and floor.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const float f = float(n.attributes_as<UpsampleAttributes>().factor);
    context.add(id, "Resize",
                {context.value(n.inputs[0]), "", context.constant(id, "scales", {4}, {1.0f, 1.0f, f, f})},
                {context.value(id)},
                {OnnxAttribute::text("mode", "nearest"),
                 OnnxAttribute::text("coordinate_transformation_mode", "asymmetric"),
                 OnnxAttribute::text("nearest_mode", "floor")});
  }
};

}  // namespace

const Op& upsample_op() {
  static const UpsampleOp op;
  return op;
}

}  // namespace hg
