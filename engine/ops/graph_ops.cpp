// The graph's own nodes: data inputs, parameters, the objective (with the seeds of its gradients), the sum
// of a value's several gradients, and the optimizer step. Lowering and autodiff create them by role.
#include "kernels/threading.h"
#include "ops/term.h"
#include "plan/step_context.h"

namespace hg {
namespace {

class InputOp : public Op {
 public:
  const char* name() const override { return "input"; }
  OpRole role() const override { return OpRole::Input; }
  int arity() const override { return 0; }
  std::string describe(const Graph&, const Node& node) const override {
    return "input <- " + node.attributes_as<InputAttributes>().source;
  }
  void differentiate(GradientContext&, NodeId, NodeId) const override {}
  StepFunction bind(StepContext&, NodeId) const override { return {}; }  // filled by the data pipeline
};

class ParameterOp : public Op {
 public:
  const char* name() const override { return "parameter"; }
  OpRole role() const override { return OpRole::Parameter; }
  int arity() const override { return 0; }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    if (context.node(id).attributes_as<ParameterAttributes>().trainable)
      context.set_parameter_gradient(id, gradient);
  }
  StepFunction bind(StepContext&, NodeId) const override { return {}; }  // lives in the ParameterStore
};

// d objective / d a scalar value in the loss: its weight; for a per-sample value, weight / batch per sample.
// In data-parallel training the batch is the global one, and a scalar's weight is shared by the shards
// (StepContext::gradient_share), each of which computes the scalar on its own rows.
struct SeedAttributes : Attributes {
  double weight = 1;
};

class ObjectiveSeedOp : public Op {
 public:
  const char* name() const override { return "objective_seed"; }
  int arity() const override { return 0; }
  StepFunction bind(StepContext& context, NodeId id) const override {
    const Node& n = context.node(id);
    const double weight = n.attributes_as<SeedAttributes>().weight;
    const float value =
        float(n.batched ? weight / double(context.global_batch()) : weight * context.gradient_share());
    float* dst = context.buffer(id);
    const int64_t count = context.count(id);
    return [=] { std::fill(dst, dst + count, value); };
  }
};
const ObjectiveSeedOp objective_seed;

class ObjectiveOp : public Op {
 public:
  const char* name() const override { return "objective"; }
  OpRole role() const override { return OpRole::Objective; }
  void verify(const Graph& g, const Node& n) const override {
    HG_ASSERT(n.attributes_as<ObjectiveAttributes>().weights.size() == n.inputs.size(), n.name);
  }
  // The seeds: plugin terms differentiate w.r.t. their inputs directly; any other scalar value gets its
  // weight as a gradient node, and its own op's rule takes it from there.
  void differentiate(GradientContext& context, NodeId id, NodeId) const override {
    const Node objective = context.node(id);
    const auto weights = objective.attributes_as<ObjectiveAttributes>().weights;
    for (size_t k = 0; k < objective.inputs.size(); ++k) {
      const NodeId input = objective.inputs[k];
      if (context.node(input).is(OpRole::Term)) {
        add_term_gradients(context, input, weights[k]);
      } else if (context.needs(input)) {
        auto seed = std::make_shared<SeedAttributes>();
        seed->weight = weights[k];
        context.contribute(
            input, context.add(objective_seed, id, {}, input, "dloss/d" + context.node(input).name, seed));
      }
    }
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    const Node& n = context.node(id);
    const std::vector<double> weights = n.attributes_as<ObjectiveAttributes>().weights;
    struct Part {
      double* value;
      const float* buffer;  // null for a term, whose step sets its value
      int64_t count;
    };
    std::vector<Part> parts;
    for (NodeId input : n.inputs) {
      const bool term = context.node(input).is(OpRole::Term);
      parts.push_back(
          {context.value_slot(input), term ? nullptr : context.buffer(input), context.count(input)});
    }
    double* total_slot = context.value_slot(id);
    float* dst = context.buffer(id);
    return [=] {
      double total = 0;
      for (size_t k = 0; k < parts.size(); ++k) {
        const Part& p = parts[k];
        if (p.buffer) {
          double sum = 0;
          for (int64_t i = 0; i < p.count; ++i) sum += p.buffer[i];
          *p.value = sum / double(p.count);
        }
        total += weights[k] * *p.value;
      }
      *total_slot = total;
      *dst = float(total);
    };
  }
};

class GradientSumOp : public Op {
 public:
  const char* name() const override { return "gradient_sum"; }
  OpRole role() const override { return OpRole::GradientSum; }
  StepFunction bind(StepContext& context, NodeId id) const override {
    std::vector<float*> sources;
    for (size_t i = 0; i < context.node(id).inputs.size(); ++i) sources.push_back(context.input(id, i));
    float* dst = context.buffer(id);
    const int64_t count = context.count(id);
    return [=] {
      parallel_for(0, count, 1 << 14, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          float sum = 0;
          for (float* s : sources) sum += s[i];
          dst[i] = sum;
        }
      });
    };
  }
};

class OptimizerStepOp : public Op {
 public:
  const char* name() const override { return "optimizer_step"; }
  OpRole role() const override { return OpRole::OptimizerStep; }
  StepFunction bind(StepContext& context, NodeId) const override {
    ParameterStore* store = &context.parameters();
    const OptimizerSettings settings = context.graph().train.optimizer;
    return [=] { optimizer_step(settings, *store); };
  }
};

}  // namespace

const Op& input_op() {
  static const InputOp op;
  return op;
}
const Op& parameter_op() {
  static const ParameterOp op;
  return op;
}
const Op& objective_op() {
  static const ObjectiveOp op;
  return op;
}
const Op& gradient_sum_op() {
  static const GradientSumOp op;
  return op;
}
const Op& optimizer_step_op() {
  static const OptimizerStepOp op;
  return op;
}

}  // namespace hg
