// Reductions: sum(x) and mean(x) over each sample's features, giving a per-sample [1] value, or with
// batch=1 over the whole batch, giving a scalar. An unbatched value (a parameter) reduces to a scalar.
//   forward:  dst[n] = sum_f src[n, f]            (mean: / F; batch=1: one sum over n and f, mean: / N*F)
//   backward: diff_src[n, f] = diff_dst[n]        (mean: / F; batch=1: diff_dst[0], mean: / N*F)
// Sums accumulate in double, one sample per thread, so the result does not depend on the thread count.
#include <vector>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "kernels/threading.h"
#include "plan/step_context.h"

namespace hg {
namespace {

struct ReduceAttributes : Attributes {
  bool whole_batch = false;  // batch=1
};

// rows x cols of the input: rows samples reduced one by one (or, whole_batch, all together).
struct ReduceShape {
  int64_t rows, cols;
  bool whole_batch, mean;
  double scale() const { return mean ? 1.0 / double(whole_batch ? rows * cols : cols) : 1.0; }
};

ReduceShape reduce_shape(StepContext& context, NodeId forward, bool mean) {
  const Node& f = context.node(forward);
  const Node& src = context.node(f.inputs[0]);
  const bool whole_batch = f.attributes_as<ReduceAttributes>().whole_batch;
  return {src.batched ? context.batch() : 1, src.elements_per_sample(), whole_batch || !src.batched, mean};
}

class ReduceBackwardOp : public Op {
 public:
  explicit ReduceBackwardOp(bool mean) : mean_(mean) {}
  const char* name() const override { return mean_ ? "mean_backward" : "sum_backward"; }
  int arity() const override { return 1; }  // diff_dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    const ReduceShape s = reduce_shape(context, context.forward_of(id), mean_);
    const float* diff_dst = context.input(id, 0);
    float* dst = context.buffer(id);
    const float scale = float(s.scale());
    return [=] {
      parallel_for(0, s.rows, std::max<int64_t>(1, (1 << 14) / s.cols), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const float g = diff_dst[s.whole_batch ? 0 : r] * scale;
          std::fill(dst + r * s.cols, dst + (r + 1) * s.cols, g);
        }
      });
    };
  }

 private:
  bool mean_;
};
const ReduceBackwardOp sum_backward(false), mean_backward(true);

class ReduceOp : public Op {
 public:
  explicit ReduceOp(bool mean) : mean_(mean) {}
  const char* name() const override { return mean_ ? "mean" : "sum"; }
  bool callable() const override { return true; }
  int arity() const override { return 1; }
  std::string describe(const Graph&, const Node& n) const override {
    return std::string(name()) + (n.attributes_as<ReduceAttributes>().whole_batch ? "(batch=1)" : "");
  }

  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 1, {"batch"}, sink)) return kNoNode;
    bool whole_batch = false, ok = true;
    if (const ast::Arg* arg = keyword(call, "batch")) {
      const std::optional<int64_t> flag = flag_value(*arg->value, "batch", sink);
      ok = flag.has_value();
      whole_batch = flag.value_or(0) != 0;
    }
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    if (inputs.empty() || !ok) return kNoNode;
    const Node& src = context.graph().node(inputs[0]);
    if (whole_batch && !src.batched) {
      const std::string value = ast::to_string(*positional(call, 0)->value);
      sink.error(keyword(call, "batch")->location,
                 std::string(name()) + "(..., batch=1) reduces over the batch, but '" + value +
                     "' is not batched; " + name() + "(" + value + ") already gives one number");
      return kNoNode;
    }
    const bool batched = src.batched && !whole_batch;  // [N, 1]; a scalar (dims {}) for the whole batch
    auto attributes = std::make_shared<ReduceAttributes>();
    attributes->whole_batch = whole_batch;
    return context.add_node(*this, call.location, inputs,
                            batched ? std::vector<int64_t>{1} : std::vector<int64_t>{}, batched, attributes);
  }

  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(mean_ ? mean_backward : sum_backward, id, 0, {gradient});
  }

  StepFunction bind(StepContext& context, NodeId id) const override {
    const ReduceShape s = reduce_shape(context, id, mean_);
    const float* src = context.input(id, 0);
    float* dst = context.buffer(id);
    // Per-sample sums land here first (allocated now, not while running), then a whole-batch sum adds them
    // in order.
    auto partial = std::make_shared<std::vector<double>>(size_t(s.rows));
    return [=] {
      double* sums = partial->data();
      parallel_for(0, s.rows, std::max<int64_t>(1, (1 << 14) / s.cols), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          double sum = 0;
          for (int64_t c = 0; c < s.cols; ++c) sum += src[r * s.cols + c];
          sums[r] = sum;
        }
      });
      if (s.whole_batch) {
        double total = 0;
        for (int64_t r = 0; r < s.rows; ++r) total += sums[r];
        dst[0] = float(total * s.scale());
      } else {
        for (int64_t r = 0; r < s.rows; ++r) dst[r] = float(sums[r] * s.scale());
      }
    };
  }

  // Per sample: each sample as one row, reduced along axis 1 to [N, 1]. batch=1 or an unbatched input:
  // everything to a scalar (over the batch the model is run on, as hourglass sums over its plan's batch).
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const char* type = mean_ ? "ReduceMean" : "ReduceSum";
    if (!n.batched) {
      context.unary(id, type, context.value(n.inputs[0]), context.value(id),
                    {OnnxAttribute::integer("keepdims", 0)});
      return;
    }
    const std::string rows = context.rows(id, n.inputs[0]);
    const OnnxAttribute keepdims = OnnxAttribute::integer("keepdims", 1);
    if (mean_)  // opset 17's ReduceMean takes its axes as an attribute, ReduceSum (since 13) as an input
      context.unary(id, type, rows, context.value(id), {OnnxAttribute::integers("axes", {1}), keepdims});
    else
      context.add(id, type, {rows, context.int64s(id, "axes", {1})}, {context.value(id)}, {keepdims});
  }

 private:
  bool mean_;
};

}  // namespace

const Op& sum_op() {
  static const ReduceOp op(false);
  return op;
}
const Op& mean_op() {
  static const ReduceOp op(true);
  return op;
}

}  // namespace hg
