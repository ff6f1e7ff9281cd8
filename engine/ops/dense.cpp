// dense(src, units, tied=NAME, bias=1): a fully connected layer on oneDNN matmul (kernels/dense.h).
//   forward:          src (N,K) x weights^T (K,M) + bias (M)  -> dst (N,M)   [+ a fused activation]
//   backward data:    diff_dst (N,M) x weights (M,K)          -> diff_src (N,K)
//   backward weights: diff_dst^T (M,N) x src (N,K)            -> diff_weights (M,K)
//   backward bias:    sum over N of diff_dst                  -> diff_bias (M)
// Parameters NAME.weights (units, in), PyTorch's Linear layout, and NAME.bias (units). tied=NAME reuses
// another dense node's weights transposed, (in, units) from this node's view, without copying them.
#include "kernels/dense.h"
#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "ops/activation.h"
#include "plan/step_context.h"

namespace hg {
namespace {

struct DenseAttributes : Attributes {
  int64_t units = 0;
  bool transposed_weights = false;  // tied: the weights are stored (in, units)
};

std::shared_ptr<DenseKernels> dense_kernels(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  return context.shared_kernel<DenseKernels>(forward, [&] {
    const Node& dense = context.node(forward);
    const auto& a = dense.attributes_as<DenseAttributes>();
    const NodeId fused = context.fused_activation(forward);
    const ActivationAttributes none;
    const ActivationAttributes& activation =
        fused == kNoNode ? none : context.node(fused).attributes_as<ActivationAttributes>();
    // Training plans honour `precision = bf16`; evaluation runs in f32 on the f32 weights.
    const bool bf16 = context.training() && context.graph().train.precision == "bf16";
    return std::make_shared<DenseKernels>(
        DenseShape{context.batch(), context.node(dense.inputs[0]).elements_per_sample(), a.units,
                   a.transposed_weights, dense.inputs.size() > 2, activation.kind, activation.alpha, bf16});
  });
}

class DenseBackwardDataOp : public Op {
 public:
  const char* name() const override { return "dense_backward_data"; }
  int arity() const override { return 2; }  // diff_dst, weights
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = dense_kernels(context, id);
    float *diff_dst = context.input(id, 0), *weights = context.input(id, 1), *dst = context.buffer(id);
    return [=] { k->backward_data(diff_dst, weights, dst); };
  }
} const backward_data;

class DenseBackwardWeightsOp : public Op {
 public:
  const char* name() const override { return "dense_backward_weights"; }
  int arity() const override { return 2; }  // diff_dst, src
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = dense_kernels(context, id);
    float *diff_dst = context.input(id, 0), *src = context.input(id, 1), *dst = context.buffer(id);
    return [=] { k->backward_weights(diff_dst, src, dst, false); };
  }
} const backward_weights;

class DenseBackwardBiasOp : public Op {
 public:
  const char* name() const override { return "dense_backward_bias"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = dense_kernels(context, id);
    float *diff_dst = context.input(id, 0), *dst = context.buffer(id);
    return [=] { k->backward_bias(diff_dst, dst, false); };
  }
} const backward_bias;

class DenseOp : public Op {
 public:
  const char* name() const override { return "dense"; }
  bool callable() const override { return true; }
  bool takes_fused_activation() const override { return true; }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override;
  void verify(const Graph& graph, const Node& n) const override {
    HG_ASSERT(n.inputs.size() == 2 || n.inputs.size() == 3, n.name);
    const auto& a = n.attributes_as<DenseAttributes>();
    const int64_t k = graph.node(n.inputs[0]).elements_per_sample();
    const std::vector<int64_t> expect =
        a.transposed_weights ? std::vector<int64_t>{k, a.units} : std::vector<int64_t>{a.units, k};
    HG_ASSERT(graph.node(n.inputs[1]).dims == expect, n.name + ": weights do not fit");
  }
  std::string describe(const Graph&, const Node& n) const override {
    const auto& a = n.attributes_as<DenseAttributes>();
    return "dense(" + std::to_string(a.units) + (a.transposed_weights ? ", tied" : "") + ")";
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
    auto k = dense_kernels(context, id);
    const Node& n = context.node(id);
    float *src = context.input(id, 0), *weights = context.input(id, 1);
    float *bias = n.inputs.size() > 2 ? context.input(id, 2) : nullptr, *dst = context.buffer(id);
    if (k->shape().bf16) {  // the weights' bf16 copy, which the optimizer's update keeps current
      ParameterStore* store = &context.parameters();
      const ParameterSlot* slot = store->slot(n.inputs[1]);
      return [=] { k->forward(src, weights, bias, dst, store->bf16_values(*slot)); };
    }
    return [=] { k->forward(src, weights, bias, dst); };
  }
  // Gemm: rows(src) B' + bias with transB=1, since the weights are stored (units, in); tied weights are
  // the owner's (out, in), which is already this node's (in, units) B.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    std::vector<std::string> inputs = {context.rows(id, n.inputs[0]), context.value(n.inputs[1])};
    if (n.inputs.size() > 2) inputs.push_back(context.value(n.inputs[2]));
    const bool transposed = n.attributes_as<DenseAttributes>().transposed_weights;
    context.add(id, "Gemm", inputs, {context.value(id)},
                {OnnxAttribute::integer("transB", transposed ? 0 : 1)});
  }
};

NodeId DenseOp::lower(LowerContext& context, const ast::Expr& call) const {
  DiagnosticSink& sink = context.sink();
  const std::string& statement = context.statement_name();
  if (!check_arguments(call, 2, {"tied", "bias"}, sink)) return kNoNode;
  if (!context.claim_parameters(call, "dense")) return kNoNode;
  const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
  std::optional<int64_t> units;  // the constant attributes are checked even when the input failed
  if (const ast::Arg* arg = positional(call, 1)) units = positive_integer(*arg->value, "dense units", sink);
  bool ok = !positional(call, 1) || units.has_value();
  bool has_bias = true;
  if (const ast::Arg* arg = keyword(call, "bias")) {
    std::optional<int64_t> flag = flag_value(*arg->value, "bias", sink);
    ok = ok && flag.has_value();
    has_bias = flag.value_or(1) != 0;
  }
  if (inputs.empty()) return kNoNode;
  const Node src = context.graph().node(inputs[0]);
  const int64_t in = src.elements_per_sample();
  NodeId weights = kNoNode;
  bool transposed = false;
  if (const ast::Arg* tied = keyword(call, "tied")) {
    if (tied->value->kind != ast::Expr::Kind::Name) {
      sink.error(tied->value->location, "tied= names the dense node whose weights to reuse, found '" +
                                            ast::to_string(*tied->value) + "'");
      return kNoNode;
    }
    const std::string& owner = tied->value->text;
    const NodeId owner_id = context.resolve(owner, tied->value->location);
    if (owner_id == kNoNode) return kNoNode;
    if (context.graph().node(owner_id).is(OpRole::Parameter)) {
      sink.error(tied->value->location, "tied= names the dense node whose weights to reuse: write tied=" +
                                            owner.substr(0, owner.rfind('.')));
      return kNoNode;
    }
    weights = context.graph().find(owner + ".weights");
    if (weights == kNoNode || !context.graph().node(weights).is(OpRole::Parameter)) {
      sink.error(
          tied->value->location,
          "'" + owner + "' owns no weights to reuse; tied= names a dense node that has its own weights");
      return kNoNode;
    }
    const Node& w = context.graph().node(weights);  // the encoder's (out, in) = our (in, out)
    transposed = true;
    if (w.dims[0] != in) {
      sink.error(call.location, "dense '" + statement + "': input '" + src.name + "' has " +
                                    std::to_string(in) + " features, tied weights of '" + tied->value->text +
                                    "' expect " + std::to_string(w.dims[0]))
          .notes.push_back({Severity::Note, w.location, "'" + w.name + "' is " + shape_string(w.dims), {}});
      return kNoNode;
    }
    if (units && *units != w.dims[1]) {
      sink.error(call.location, "dense '" + statement + "': " + std::to_string(*units) +
                                    " units, but the tied weights of '" + tied->value->text + "' give " +
                                    std::to_string(w.dims[1]))
          .notes.push_back({Severity::Note, w.location, "'" + w.name + "' is " + shape_string(w.dims), {}});
      return kNoNode;
    }
    units = w.dims[1];
  } else if (!units && ok) {
    sink.error(call.location, "dense '" + statement + "' needs a number of units: dense(x, 128)");
    return kNoNode;
  }
  if (!ok) return kNoNode;
  if (!src.batched) {
    sink.error(positional(call, 0)->value->location,
               "dense expects a batch of samples, but '" + src.name + "' is a parameter");
    return kNoNode;
  }
  if (!transposed) weights = context.add_parameter("weights", {*units, in}, call.location, 0, in);
  Node n;
  n.op = this;
  n.name = statement + ".dense";
  n.location = call.location;
  n.inputs = {inputs[0], weights};
  if (has_bias) n.inputs.push_back(context.add_parameter("bias", {*units}, call.location, 0, in));
  n.dims = {*units};
  n.batched = true;
  auto attributes = std::make_shared<DenseAttributes>();
  attributes->units = *units;
  attributes->transposed_weights = transposed;
  n.attributes = attributes;
  return context.add(std::move(n));
}

}  // namespace

const Op& dense_op() {
  static const DenseOp op;
  return op;
}

}  // namespace hg
