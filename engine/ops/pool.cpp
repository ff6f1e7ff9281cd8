// maxpool(src, kernel=2, stride=kernel, pad=0) and avgpool(...) (padding excluded from averages) on oneDNN
// (kernels/pool.h).   out = (in + 2 pad - kernel) / stride + 1
// Max pooling's backward reads the workspace of the same kernel object's latest forward.
#include "kernels/pool.h"
#include "autodiff/gradient_context.h"
#include "ir/onnx.h"
#include "ops/spatial.h"
#include "plan/step_context.h"

namespace hg {
namespace {

struct PoolAttributes : Attributes {
  int64_t kernel = 2, stride = 2, pad = 0;
  bool max = true;
};

std::shared_ptr<PoolKernels> pool_kernels(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  const Node& f = context.node(forward);
  const Node& src = context.node(f.inputs[0]);
  const auto& a = f.attributes_as<PoolAttributes>();
  const PoolShape shape{context.batch(), src.dims[0], src.dims[1], src.dims[2], a.kernel, a.kernel,
                        a.stride,        a.stride,    a.pad,       a.pad,       a.max};
  return context.shared_kernel<PoolKernels>(forward, [&] { return std::make_shared<PoolKernels>(shape); });
}

class PoolBackwardOp : public Op {
 public:
  const char* name() const override { return "pool_backward"; }
  int arity() const override { return 2; }  // diff_dst, src
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = pool_kernels(context, id);
    float *diff_dst = context.input(id, 0), *dst = context.buffer(id);
    return [=] { k->backward(diff_dst, dst); };
  }
} const pool_backward;

class PoolOp : public Op {
 public:
  explicit PoolOp(bool max) : max_(max) {}
  const char* name() const override { return max_ ? "maxpool" : "avgpool"; }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  std::string describe(const Graph&, const Node& n) const override {
    const auto& a = n.attributes_as<PoolAttributes>();
    return std::string(name()) + "(k" + std::to_string(a.kernel) + " s" + std::to_string(a.stride) + ")";
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 1, {"kernel", "stride", "pad"}, sink)) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    int64_t kernel, stride, pad;
    const bool ok = window_attributes(call, 2, kernel, stride, pad, true, sink);
    if (inputs.empty() || !ok) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    if (!spatial_input(src, call, sink)) return kNoNode;
    if (pad >= kernel || src.dims[1] + 2 * pad < kernel || src.dims[2] + 2 * pad < kernel) {
      sink.error(call.location, call.text + ": kernel " + std::to_string(kernel) + " with pad " +
                                    std::to_string(pad) + " does not fit input '" + src.name + "' " +
                                    shape_string(src.dims) + " (pad must also be smaller than the kernel)");
      return kNoNode;
    }
    Node n;
    n.op = this;
    n.name = context.statement_name() + "." + call.text;
    n.location = call.location;
    n.inputs = inputs;
    n.dims = {src.dims[0], (src.dims[1] + 2 * pad - kernel) / stride + 1,
              (src.dims[2] + 2 * pad - kernel) / stride + 1};
    n.batched = true;
    auto attributes = std::make_shared<PoolAttributes>();
    attributes->kernel = kernel;
    attributes->stride = stride;
    attributes->pad = pad;
    attributes->max = max_;
    n.attributes = attributes;
    return context.add(std::move(n));
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(pool_backward, id, 0, {gradient, context.node(id).inputs[0]});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = pool_kernels(context, id);
    float *src = context.input(id, 0), *dst = context.buffer(id);
    return [=] { k->forward(src, dst); };
  }
  // MaxPool pads with -inf, AveragePool (count_include_pad=0) leaves padding out of the average: as oneDNN.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const auto& a = n.attributes_as<PoolAttributes>();
    std::vector<OnnxAttribute> attributes = {OnnxAttribute::integers("kernel_shape", {a.kernel, a.kernel}),
                                             OnnxAttribute::integers("strides", {a.stride, a.stride}),
                                             OnnxAttribute::integers("pads", {a.pad, a.pad, a.pad, a.pad})};
    if (!max_) attributes.push_back(OnnxAttribute::integer("count_include_pad", 0));
    context.unary(id, max_ ? "MaxPool" : "AveragePool", context.value(n.inputs[0]), context.value(id),
                  attributes);
  }

 private:
  bool max_;
};

}  // namespace

const Op& maxpool_op() {
  static const PoolOp op(true);
  return op;
}
const Op& avgpool_op() {
  static const PoolOp op(false);
  return op;
}

}  // namespace hg
