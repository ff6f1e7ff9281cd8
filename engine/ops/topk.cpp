// topk(x, k): the k-sparse autoencoder's code (Makhzani and Frey, 2013). Per sample, the k largest
// elements pass and the rest become 0; the gradient flows through the kept elements only. Ties go to the
// lower index, so the selection is deterministic.
// topk(x, k, start=S, anneal=A): the paper's schedule. Training keeps
//   k_t = round(S + (k - S) * min(1, t / (A * T)))
// at step t of a run of T steps: S at the first step, lowered linearly to k over the first A of the run
// (0.5 by default), k after. Evaluation, encode and a plan that train() does not drive keep k.
#include <algorithm>
#include <cmath>
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
  int64_t start = 0;    // k of the first training step; 0 without annealing
  double anneal = 0.5;  // the fraction of the run over which k falls from start to k
};

// The k that training's forward keeps at `progress`, by the rule above.
int64_t annealed_k(const TopkAttributes& a, TrainingProgress progress) {
  if (a.start == 0 || progress.steps <= 0) return a.k;
  const double span = a.anneal * double(progress.steps);
  const double done = std::min(1.0, double(progress.step) / std::max(span, 1.0));
  return std::llround(double(a.start) + double(a.k - a.start) * done);
}

// Shape contract: src and dst are batch x features; keep (batch x features bytes) records which elements
// the latest forward kept, for the backward of the same plan. Both scratch arrays are allocated at bind.
class TopkKernel {
 public:
  TopkKernel(int64_t batch, int64_t features)
      : batch_(batch), features_(features), order_(size_t(features)), keep_(size_t(batch * features)) {}
  // Keeps the k largest of each row (1 <= k <= features).
  void forward(const float* src, float* dst, int64_t k) {
    for (int64_t r = 0; r < batch_; ++r) {
      const float* row = src + r * features_;
      std::iota(order_.begin(), order_.end(), int32_t(0));
      std::nth_element(order_.begin(), order_.begin() + (k - 1), order_.end(), [row](int32_t a, int32_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      });
      uint8_t* keep = keep_.data() + r * features_;
      std::fill(keep, keep + features_, uint8_t(0));
      for (int64_t i = 0; i < k; ++i) keep[order_[size_t(i)]] = 1;
      for (int64_t j = 0; j < features_; ++j) dst[r * features_ + j] = keep[j] ? row[j] : 0.0f;
    }
  }
  void backward(const float* diff_dst, float* diff_src) const {
    for (int64_t i = 0; i < batch_ * features_; ++i) diff_src[i] = keep_[size_t(i)] ? diff_dst[i] : 0.0f;
  }

 private:
  int64_t batch_, features_;
  std::vector<int32_t> order_;
  std::vector<uint8_t> keep_;
};

std::shared_ptr<TopkKernel> topk_kernel(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  return context.shared_kernel<TopkKernel>(forward, [&] {
    const Node& f = context.node(forward);
    return std::make_shared<TopkKernel>(context.batch(), f.elements_per_sample());
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
    const auto& a = n.attributes_as<TopkAttributes>();
    if (a.start == 0) return "topk(" + std::to_string(a.k) + ")";
    char anneal[32];
    std::snprintf(anneal, sizeof anneal, "%.9g", a.anneal);
    return "topk(" + std::to_string(a.k) + ", start=" + std::to_string(a.start) + ", anneal=" + anneal + ")";
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 2, {"start", "anneal"}, sink)) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    std::optional<int64_t> k;
    if (const ast::Arg* arg = positional(call, 1))
      k = positive_integer(*arg->value, "topk's k", sink);
    else
      sink.error(call.location, "topk needs how many elements to keep: topk(h, 25)");
    auto attributes = std::make_shared<TopkAttributes>();
    bool ok = true;
    const ast::Arg* start = keyword(call, "start");
    if (start) {
      const std::optional<int64_t> s = positive_integer(*start->value, "topk's start", sink);
      ok = s.has_value();
      attributes->start = s.value_or(0);
    }
    if (const ast::Arg* anneal = keyword(call, "anneal")) {
      const std::optional<double> a = constant_value(*anneal->value, sink);
      if (!start) {
        sink.error(anneal->location,
                   "topk's anneal is the fraction of the run over which k falls from start; "
                   "give start too: topk(h, 25, start=100, anneal=0.5)");
        ok = false;
      } else if (a && !(*a > 0 && *a <= 1)) {
        sink.error(anneal->value->location, "topk's anneal is a fraction of the run's steps, in (0, 1]");
        ok = false;
      }
      ok = ok && a.has_value();
      attributes->anneal = a.value_or(0.5);
    }
    if (ok && k && start && attributes->start < *k) {
      sink.error(start->value->location, "topk's start (" + std::to_string(attributes->start) +
                                             ") is below k (" + std::to_string(*k) +
                                             "); annealing lowers k from start, so start >= k");
      ok = false;
    }
    if (inputs.empty() || !k || !ok) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    if (!src.batched || src.dims.size() != 1) {
      sink.error(
          positional(call, 0)->value->location,
          "topk expects a batch of feature vectors, but '" + src.name + "' is " +
              (src.batched ? shape_string(src.dims) + "; flatten it first" : std::string("a parameter")));
      return kNoNode;
    }
    if (*k > src.dims[0] || attributes->start > src.dims[0]) {
      const bool at_start = *k <= src.dims[0];
      const int64_t kept = at_start ? attributes->start : *k;
      sink.error(at_start ? start->value->location : positional(call, 1)->value->location,
                 std::string(at_start ? "topk starts by keeping " : "topk keeps ") + std::to_string(kept) +
                     " of '" + src.name + "' " + shape_string(src.dims) + ", which has only " +
                     std::to_string(src.dims[0]));
      return kNoNode;
    }
    attributes->k = *k;
    return context.add_node(*this, call.location, inputs, src.dims, true, attributes);
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(topk_backward, id, 0, {gradient});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto kernel = topk_kernel(context, id);
    const float* src = context.input(id, 0);
    float* dst = context.buffer(id);
    const TopkAttributes& a = context.node(id).attributes_as<TopkAttributes>();
    if (!context.training() || a.start == 0) return [=, k = a.k] { kernel->forward(src, dst, k); };
    const TrainingProgress* progress = context.progress();
    return [=, a = a] { kernel->forward(src, dst, annealed_k(a, *progress)); };
  }
  // The evaluation graph keeps the final k. TopK picks the k largest of each row (ONNX also breaks ties by
  // the lower index) and ScatterElements writes them into zeros of the input's shape (ConstantOfShape's
  // default fill is a float 0).
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
