// Reverse-mode differentiation: marks the values that depend on a trainable parameter, lets the objective
// seed the gradients, then walks the forward nodes backwards, summing each value's gradients and handing
// the sum to its op's gradient rule (engine/ops/). The optimizer step comes last.
#include "autodiff/autodiff.h"

#include "autodiff/gradient_context.h"

namespace hg {

GradientContext::GradientContext(Graph& graph) : graph_(graph), needs_(graph.nodes.size(), false) {
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& n = graph_.nodes[i];
    if (n.is(OpRole::Parameter)) needs_[i] = n.attributes_as<ParameterAttributes>().trainable;
    for (NodeId input : n.inputs) needs_[i] = needs_[i] || needs_[input];
  }
}

NodeId GradientContext::add(const Op& op, NodeId forward, std::vector<NodeId> inputs, NodeId shaped_like,
                            std::string name, std::shared_ptr<Attributes> attributes) {
  const Node& f = graph_.node(forward);
  Node n;
  n.op = &op;
  n.name = std::move(name);
  n.location = f.location;
  n.inputs = std::move(inputs);
  n.dims = graph_.node(shaped_like).dims;
  n.batched = graph_.node(shaped_like).batched;
  n.attributes = attributes ? std::move(attributes) : f.attributes;
  n.forward = forward;
  const NodeId id = graph_.add(std::move(n));
  needs_.push_back(false);  // backward nodes are never differentiated again
  return id;
}

void GradientContext::input_gradient(const Op& op, NodeId forward, size_t index, std::vector<NodeId> inputs,
                                     std::shared_ptr<Attributes> attributes) {
  const NodeId input = graph_.node(forward).inputs.at(index);
  if (!needs(input)) return;
  const std::string name = "d" + graph_.node(forward).name + "/d" + graph_.node(input).name;
  contribute(input, add(op, forward, std::move(inputs), input, name, std::move(attributes)));
}

class Differentiator {
 public:
  explicit Differentiator(Graph& graph) : graph_(graph), context_(graph) {}

  void run() {
    HG_ASSERT(graph_.objective != kNoNode, "the graph has no objective");
    HG_ASSERT(!graph_.has_backward(), "backward nodes were already appended");
    const NodeId forward_end = NodeId(graph_.nodes.size());
    graph_.node(graph_.objective).op->differentiate(context_, graph_.objective, kNoNode);  // the seeds
    for (NodeId id = forward_end - 1; id >= 0; --id) {
      auto it = context_.contributions_.find(id);
      if (it == context_.contributions_.end()) continue;
      const std::vector<NodeId> gradients = it->second;
      graph_.node(id).op->differentiate(context_, id, sum_of(id, gradients));
    }
    append_optimizer_step();
    verify(graph_);
  }

 private:
  NodeId sum_of(NodeId value, const std::vector<NodeId>& gradients) {
    if (gradients.size() == 1) return gradients[0];
    return context_.add(graph_.ops->of_role(OpRole::GradientSum), value, gradients, value,
                        "d" + graph_.node(value).name);
  }

  void append_optimizer_step() {
    Node step;
    step.op = &graph_.ops->of_role(OpRole::OptimizerStep);
    step.name = "optimizer_step";
    step.location = graph_.train.optimizer.location;
    for (auto [parameter, gradient] : graph_.parameter_gradient) {
      step.inputs.push_back(parameter);
      step.inputs.push_back(gradient);
    }
    graph_.add(std::move(step));
  }

  Graph& graph_;
  GradientContext context_;
};

void append_backward(Graph& graph) {
  Differentiator(graph).run();
}

}  // namespace hg
