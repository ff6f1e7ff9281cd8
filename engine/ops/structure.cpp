// Structure ops: concat(a, b, ...), slice(x, start, end) and flatten(x). Each moves whole blocks of a
// sample's elements, so forward and backward are strided copies; skip connections are concat of an early
// value and a late one. Blocks are cut along the first per-sample dim: features of [F], channels of [C,H,W]
// (samples are stored channel-major, so a channel range is one contiguous block per sample).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "plan/step_context.h"

namespace hg {
namespace {

// Shape contract: src is rows x src_row floats, dst rows x dst_row; copies `width` floats of each row, from
// column src_at of src to column dst_at of dst. The columns never overlap a row's end (checked in lowering).
struct BlockCopy {
  const float* src;
  float* dst;
  int64_t rows, width, src_row, src_at, dst_row, dst_at;
  void operator()() const {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * dst_row + dst_at, src + r * src_row + src_at, sizeof(float) * size_t(width));
  }
};

// Where a node's block sits in the wider value: `at` elements into each sample, `width` elements long.
struct BlockAttributes : Attributes {
  int64_t at = 0, width = 0;
};

// The elements per sample of one unit of the first dim: 1 for [F], H*W for [C,H,W].
int64_t unit_size(const Node& n) {
  int64_t unit = 1;
  for (size_t i = 1; i < n.dims.size(); ++i) unit *= n.dims[i];
  return unit;
}

// d concat / d input k: input k's block of the gradient.
class ConcatBackwardOp : public Op {
 public:
  const char* name() const override { return "concat_backward"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    const auto& a = context.node(id).attributes_as<BlockAttributes>();
    const int64_t wide = context.node(context.forward_of(id)).elements_per_sample();
    return BlockCopy{
        context.input(id, 0), context.buffer(id), context.batch(), a.width, wide, a.at, a.width, 0};
  }
} const concat_backward;

class ConcatOp : public Op {
 public:
  const char* name() const override { return "concat"; }
  bool callable() const override { return true; }
  void verify(const Graph& graph, const Node& n) const override {
    int64_t total = 0;
    for (NodeId in : n.inputs) total += graph.node(in).elements_per_sample();
    HG_ASSERT(n.inputs.size() >= 2 && total == n.elements_per_sample(), n.name + ": sizes");
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 64, {}, sink)) return kNoNode;
    size_t count = 0;
    while (positional(call, count)) ++count;
    if (count < 2) {
      sink.error(call.location, "concat joins two or more values: concat(a, b)");
      return kNoNode;
    }
    const std::vector<NodeId> inputs = context.lower_inputs(call, count, "op");
    if (inputs.empty()) return kNoNode;
    const Node first = context.graph().node(inputs[0]);
    std::vector<int64_t> dims = first.dims;
    dims[0] = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Node& in = context.graph().node(inputs[i]);
      const SourceLocation& where = positional(call, i)->value->location;
      if (!in.batched) {
        sink.error(where, "concat expects batches of samples, but '" + in.name + "' is a parameter");
        return kNoNode;
      }
      const bool fits = in.dims.size() == first.dims.size() &&
                        std::equal(in.dims.begin() + 1, in.dims.end(), first.dims.begin() + 1);
      if (!fits) {
        sink.error(where, "concat joins along the first dim, so the others must agree: '" + in.name +
                              "' is " + shape_string(in.dims) + ", but '" + first.name + "' is " +
                              shape_string(first.dims))
            .notes.push_back(
                {Severity::Note, context.definition_of(in), "'" + in.name + "' is defined here", {}});
        return kNoNode;
      }
      dims[0] += in.dims[0];
    }
    return context.add_node(*this, call.location, inputs, dims, true);
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    const std::vector<NodeId> inputs = context.node(id).inputs;
    int64_t at = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto block = std::make_shared<BlockAttributes>();
      block->at = at;
      block->width = context.node(inputs[i]).elements_per_sample();
      at += block->width;
      context.input_gradient(concat_backward, id, i, {gradient}, block);
    }
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    const Node& n = context.node(id);
    std::vector<BlockCopy> copies;
    int64_t at = 0;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const int64_t width = context.node(n.inputs[i]).elements_per_sample();
      copies.push_back({context.input(id, i), context.buffer(id), context.batch(), width, width, 0,
                        n.elements_per_sample(), at});
      at += width;
    }
    return [copies] {
      for (const BlockCopy& c : copies) c();
    };
  }
  // The first per-sample dim is ONNX's axis 1.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    std::vector<std::string> inputs;
    for (NodeId input : context.graph().node(id).inputs) inputs.push_back(context.value(input));
    context.add(id, "Concat", inputs, {context.value(id)}, {OnnxAttribute::integer("axis", 1)});
  }
};

struct SliceAttributes : Attributes {
  int64_t start = 0, end = 0;  // along the first dim, end exclusive
};

// d slice / d x: the gradient in the sliced block, zero elsewhere.
class SliceBackwardOp : public Op {
 public:
  const char* name() const override { return "slice_backward"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    const Node& forward = context.node(context.forward_of(id));
    const auto& a = forward.attributes_as<SliceAttributes>();
    const int64_t unit = unit_size(forward), width = forward.elements_per_sample();
    float* dst = context.buffer(id);
    const int64_t count = context.count(id);
    const BlockCopy copy{context.input(id, 0),    dst,           context.batch(), width, width, 0,
                         count / context.batch(), a.start * unit};
    return [=] {
      std::fill(dst, dst + count, 0.0f);
      copy();
    };
  }
} const slice_backward;

// A non-negative integer attribute, or nullopt after reporting it.
std::optional<int64_t> index_value(const ast::Expr& e, const char* what, DiagnosticSink& sink) {
  auto v = constant_value(e, sink);
  if (!v) return std::nullopt;
  if (*v != std::floor(*v) || *v < 0 || *v > 1e9) {
    sink.error(e.location,
               std::string("slice ") + what + " must be an integer >= 0, got " + ast::to_string(e));
    return std::nullopt;
  }
  return int64_t(*v);
}

class SliceOp : public Op {
 public:
  const char* name() const override { return "slice"; }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  std::string describe(const Graph&, const Node& n) const override {
    const auto& a = n.attributes_as<SliceAttributes>();
    return "slice(" + std::to_string(a.start) + ", " + std::to_string(a.end) + ")";
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 3, {}, sink)) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    std::optional<int64_t> start, end;
    if (const ast::Arg* arg = positional(call, 1)) start = index_value(*arg->value, "start", sink);
    if (const ast::Arg* arg = positional(call, 2)) end = index_value(*arg->value, "end", sink);
    if (!positional(call, 2)) {
      sink.error(call.location, "slice needs a start and an end (exclusive): slice(x, 0, 10)");
      return kNoNode;
    }
    if (inputs.empty() || !start || !end) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    if (!src.batched) {
      sink.error(positional(call, 0)->value->location,
                 "slice expects a batch of samples, but '" + src.name + "' is a parameter");
      return kNoNode;
    }
    if (*start >= *end || *end > src.dims[0]) {
      sink.error(call.location, "slice [" + std::to_string(*start) + ", " + std::to_string(*end) + ") of '" +
                                    src.name + "' " + shape_string(src.dims) +
                                    ": it needs start < end <= " + std::to_string(src.dims[0]));
      return kNoNode;
    }
    std::vector<int64_t> dims = src.dims;
    dims[0] = *end - *start;
    auto attributes = std::make_shared<SliceAttributes>();
    attributes->start = *start;
    attributes->end = *end;
    return context.add_node(*this, call.location, inputs, dims, true, attributes);
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(slice_backward, id, 0, {gradient});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    const Node& n = context.node(id);
    const auto& a = n.attributes_as<SliceAttributes>();
    const int64_t width = n.elements_per_sample();
    return BlockCopy{context.input(id, 0),
                     context.buffer(id),
                     context.batch(),
                     width,
                     context.node(n.inputs[0]).elements_per_sample(),
                     a.start * unit_size(n),
                     width,
                     0};
  }
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const auto& a = n.attributes_as<SliceAttributes>();
    context.add(id, "Slice",
                {context.value(n.inputs[0]), context.int64s(id, "starts", {a.start}),
                 context.int64s(id, "ends", {a.end}), context.int64s(id, "axes", {1})},
                {context.value(id)});
  }
};

// flatten(x): [C, H, W] (or any shape) to [C*H*W]; the same bytes, so both directions are one copy.
class FlattenBackwardOp : public Op {
 public:
  const char* name() const override { return "flatten_backward"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    const float* src = context.input(id, 0);
    float* dst = context.buffer(id);
    const size_t bytes = sizeof(float) * size_t(context.count(id));
    return [=] { std::memcpy(dst, src, bytes); };
  }
} const flatten_backward;

class FlattenOp : public Op {
 public:
  const char* name() const override { return "flatten"; }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 1, {}, sink)) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    if (inputs.empty()) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    if (!src.batched) {
      sink.error(positional(call, 0)->value->location,
                 "flatten expects a batch of samples, but '" + src.name + "' is a parameter");
      return kNoNode;
    }
    return context.add_node(*this, call.location, inputs, {src.elements_per_sample()}, true);
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(flatten_backward, id, 0, {gradient});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    return flatten_backward.bind(context, id);  // the same copy of the node's one input
  }
  void export_onnx(OnnxContext& context, NodeId id) const override {
    context.unary(id, "Flatten", context.value(context.graph().node(id).inputs[0]), context.value(id),
                  {OnnxAttribute::integer("axis", 1)});
  }
};

}  // namespace

const Op& concat_op() {
  static const ConcatOp op;
  return op;
}
const Op& slice_op() {
  static const SliceOp op;
  return op;
}
const Op& flatten_op() {
  static const FlattenOp op;
  return op;
}

}  // namespace hg
