// The gradient rule of each forward op sits in one function below; kernels/ holds the matching math.
#include "autodiff/autodiff.h"

#include <map>

namespace hg {
namespace {

class Differentiator {
 public:
  explicit Differentiator(Graph& graph) : graph_(graph), needs_(graph.nodes.size(), false) {}

  void run() {
    HG_ASSERT(graph_.objective != kNoNode, "the graph has no objective");
    HG_ASSERT(!graph_.has_backward(), "backward nodes were already appended");
    const NodeId forward_end = NodeId(graph_.nodes.size());
    mark_needs_gradient();
    seed_objective();
    for (NodeId id = forward_end - 1; id >= 0; --id) {
      auto it = contributions_.find(id);
      if (it == contributions_.end()) continue;
      differentiate(id, sum_of(id, it->second));
    }
    append_optimizer_step();
    verify(graph_);
  }

 private:
  // A value needs a gradient when it depends on a trainable parameter.
  void mark_needs_gradient() {
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      const Node& n = graph_.nodes[i];
      if (n.op == OpKind::Parameter) needs_[i] = n.trainable;
      for (NodeId input : n.inputs) needs_[i] = needs_[i] || needs_[input];
    }
  }

  NodeId add_backward(OpKind op, NodeId forward, std::vector<NodeId> inputs, const Node& shaped_like,
                      const std::string& name) {
    Node n;
    n.op = op;
    n.name = name;
    n.location = graph_.node(forward).location;
    n.inputs = std::move(inputs);
    n.dims = shaped_like.dims;
    n.batched = shaped_like.batched;
    n.forward = forward;
    const Node& f = graph_.node(forward);
    n.activation = f.activation;
    n.transposed_weights = f.transposed_weights;
    n.units = f.units;
    n.kernel = f.kernel;
    n.stride = f.stride;
    n.pad = f.pad;
    n.max_pool = f.max_pool;
    n.term = f.term;
    n.term_params = f.term_params;
    return graph_.add(std::move(n));
  }

  void contribute(NodeId value, NodeId gradient) { contributions_[value].push_back(gradient); }

  // d objective / d term_k = weight_k; each term then differentiates w.r.t. its inputs.
  void seed_objective() {
    const Node objective = graph_.node(graph_.objective);
    for (size_t k = 0; k < objective.inputs.size(); ++k) {
      const NodeId term = objective.inputs[k];
      const std::vector<NodeId> term_inputs = graph_.node(term).inputs;
      for (size_t j = 0; j < term_inputs.size(); ++j) {
        if (!needs_[term_inputs[j]]) continue;
        const Node& input = graph_.node(term_inputs[j]);
        NodeId g = add_backward(OpKind::TermBackward, term, term_inputs, input,
                                "d" + graph_.node(term).name + "/d" + input.name);
        graph_.nodes[g].scale = objective.weights[k];
        graph_.nodes[g].input_index = int(j);
        contribute(term_inputs[j], g);
      }
    }
  }

  NodeId sum_of(NodeId value, const std::vector<NodeId>& gradients) {
    if (gradients.size() == 1) return gradients[0];
    return add_backward(OpKind::GradientSum, value, gradients, graph_.node(value),
                        "d" + graph_.node(value).name);
  }

  void differentiate(NodeId id, NodeId gradient) {
    const Node n = graph_.node(id);
    const std::string d = "d" + n.name;
    switch (n.op) {
      case OpKind::Parameter:
        if (n.trainable) graph_.parameter_gradient[id] = gradient;
        return;
      case OpKind::Dense: {
        const NodeId src = n.inputs[0], weights = n.inputs[1];
        if (needs_[src])
          contribute(src, add_backward(OpKind::DenseBackwardData, id, {gradient, weights}, graph_.node(src),
                                       d + "/d" + graph_.node(src).name));
        if (needs_[weights])
          contribute(weights, add_backward(OpKind::DenseBackwardWeights, id, {gradient, src},
                                           graph_.node(weights), d + "/d" + graph_.node(weights).name));
        if (n.inputs.size() > 2 && needs_[n.inputs[2]])
          contribute(n.inputs[2],
                     add_backward(OpKind::DenseBackwardBias, id, {gradient}, graph_.node(n.inputs[2]),
                                  d + "/d" + graph_.node(n.inputs[2]).name));
        return;
      }
      case OpKind::Conv: {
        const NodeId src = n.inputs[0], weights = n.inputs[1];
        if (needs_[src])
          contribute(src, add_backward(OpKind::ConvBackwardData, id, {gradient, weights}, graph_.node(src),
                                       d + "/d" + graph_.node(src).name));
        if (needs_[weights])
          contribute(weights, add_backward(OpKind::ConvBackwardWeights, id, {gradient, src},
                                           graph_.node(weights), d + "/d" + graph_.node(weights).name));
        if (n.inputs.size() > 2 && needs_[n.inputs[2]])
          contribute(n.inputs[2],
                     add_backward(OpKind::ConvBackwardBias, id, {gradient}, graph_.node(n.inputs[2]),
                                  d + "/d" + graph_.node(n.inputs[2]).name));
        return;
      }
      case OpKind::Pool:
        if (needs_[n.inputs[0]])
          contribute(n.inputs[0],
                     add_backward(OpKind::PoolBackward, id, {gradient, n.inputs[0]}, graph_.node(n.inputs[0]),
                                  d + "/d" + graph_.node(n.inputs[0]).name));
        return;
      case OpKind::Reshape:
        if (needs_[n.inputs[0]])
          contribute(n.inputs[0],
                     add_backward(OpKind::ReshapeBackward, id, {gradient}, graph_.node(n.inputs[0]),
                                  d + "/d" + graph_.node(n.inputs[0]).name));
        return;
      case OpKind::Activation:
        if (needs_[n.inputs[0]])
          contribute(n.inputs[0],
                     add_backward(OpKind::ActivationBackward, id, {gradient, id}, graph_.node(n.inputs[0]),
                                  d + "/d" + graph_.node(n.inputs[0]).name));
        return;
      case OpKind::Corrupt:
        if (needs_[n.inputs[0]])
          contribute(n.inputs[0],
                     add_backward(OpKind::CorruptBackward, id, {gradient, n.inputs[0]},
                                  graph_.node(n.inputs[0]), d + "/d" + graph_.node(n.inputs[0]).name));
        return;
      case OpKind::Input:
        return;
      default:
        HG_ASSERT(false, std::string("no gradient rule for ") + op_name(n.op));
    }
  }

  void append_optimizer_step() {
    Node step;
    step.op = OpKind::OptimizerStep;
    step.name = "optimizer_step";
    step.location = graph_.train.optimizer.location;
    for (auto [parameter, gradient] : graph_.parameter_gradient) {
      step.inputs.push_back(parameter);
      step.inputs.push_back(gradient);
    }
    graph_.add(std::move(step));
  }

  Graph& graph_;
  std::vector<bool> needs_;
  std::map<NodeId, std::vector<NodeId>> contributions_;
};

}  // namespace

void append_backward(Graph& graph) {
  Differentiator(graph).run();
}

}  // namespace hg
