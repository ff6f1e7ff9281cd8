// topk(x, k): the k-sparse autoencoder's code (Makhzani and Frey, 2013). Per sample, the k largest
// elements pass and the rest become 0; the gradient flows through the kept elements only. Ties go to the
// lower index, so the selection is deterministic.
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "plan/step_context.h"

namespace hg {
namespace {

struct TopkAttributes : Attributes {
  int64_t k = 1;
};

// Shape contract: src and dst are batch x features; keep (batch x features bytes) records which elements
// the latest forward kept, for the backward of the same plan. Both scratch arrays are allocated at bind.
class TopkKernel {
 public:
  TopkKernel(int64_t batch, int64_t features, int64_t k)
      : batch_(batch),
        features_(features),
        k_(k),
        order_(size_t(features)),
        keep_(size_t(batch * features)) {}
  void forward(const float* src, float* dst) {
    for (int64_t r = 0; r < batch_; ++r) {
      const float* row = src + r * features_;
      std::iota(order_.begin(), order_.end(), int32_t(0));
      std::nth_element(order_.begin(), order_.begin() + (k_ - 1), order_.end(), [row](int32_t a, int32_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      });
      uint8_t* keep = keep_.data() + r * features_;
      std::fill(keep, keep + features_, uint8_t(0));
      for (int64_t i = 0; i < k_; ++i) keep[order_[size_t(i)]] = 1;
      for (int64_t j = 0; j < features_; ++j) dst[r * features_ + j] = keep[j] ? row[j] : 0.0f;
    }
  }
  void backward(const float* diff_dst, float* diff_src) const {
    for (int64_t i = 0; i < batch_ * features_; ++i) diff_src[i] = keep_[size_t(i)] ? diff_dst[i] : 0.0f;
  }

 private:
  int64_t batch_, features_, k_;
  std::vector<int32_t> order_;
  std::vector<uint8_t> keep_;
};

std::shared_ptr<TopkKernel> topk_kernel(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  return context.shared_kernel<TopkKernel>(forward, [&] {
    const Node& f = context.node(forward);
    return std::make_shared<TopkKernel>(context.batch(), f.elements_per_sample(),
                                        f.attributes_as<TopkAttributes>().k);
  });
}

class TopkBackwardOp : public Op {
 public:
  const char* name() const override { return "topk_backward"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = topk_kernel(context, id);
    const float* diff_dst = context.input(id, 0);
    float* dst = context.buffer(id);
    return [=] { k->backward(diff_dst, dst); };
  }
} const topk_backward;

class TopkOp : public Op {
 public:
  const char* name() const override { return "topk"; }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  std::string describe(const Graph&, const Node& n) const override {
    return "topk(" + std::to_string(n.attributes_as<TopkAttributes>().k) + ")";
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 2, {}, sink)) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    std::optional<int64_t> k;
    if (const ast::Arg* arg = positional(call, 1))
      k = positive_integer(*arg->value, "topk's k", sink);
    else
      sink.error(call.location, "topk needs how many elements to keep: topk(h, 25)");
    if (inputs.empty() || !k) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    if (!src.batched || src.dims.size() != 1) {
      sink.error(
          positional(call, 0)->value->location,
          "topk expects a batch of feature vectors, but '" + src.name + "' is " +
              (src.batched ? shape_string(src.dims) + "; flatten it first" : std::string("a parameter")));
      return kNoNode;
    }
    if (*k > src.dims[0]) {
      sink.error(positional(call, 1)->value->location, "topk keeps " + std::to_string(*k) + " of '" +
                                                           src.name + "' " + shape_string(src.dims) +
                                                           ", which has only " + std::to_string(src.dims[0]));
      return kNoNode;
    }
    auto attributes = std::make_shared<TopkAttributes>();
    attributes->k = *k;
    return context.add_node(*this, call.location, inputs, src.dims, true, attributes);
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(topk_backward, id, 0, {gradient});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = topk_kernel(context, id);
    const float* src = context.input(id, 0);
    float* dst = context.buffer(id);
    return [=] { k->forward(src, dst); };
  }
  // TopK picks the k largest of each row (ONNX also breaks ties by the lower index) and ScatterElements
  // writes them into zeros of the input's shape (ConstantOfShape's default fill is a float 0).
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const std::string x = context.value(n.inputs[0]);
    const std::string values = context.temporary(id, "values"), indices = context.temporary(id, "indices");
    context.add(id, "TopK", {x, context.int64s(id, "k", {n.attributes_as<TopkAttributes>().k})},
                {values, indices}, {OnnxAttribute::integer("axis", 1)});
    const std::string shape = context.unary(id, "Shape", x, context.temporary(id, "shape"));
    const std::string zeros = context.unary(id, "ConstantOfShape", shape, context.temporary(id, "zeros"));
    context.add(id, "ScatterElements", {zeros, indices, values}, {context.value(id)},
                {OnnxAttribute::integer("axis", 1)});
  }
};

}  // namespace

const Op& topk_op() {
  static const TopkOp op;
  return op;
}

}  // namespace hg
