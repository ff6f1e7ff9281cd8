// Graph bookkeeping and the verifier that every later pass relies on.
#include "ir/graph.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace hg {

std::string describe(const ScheduleSettings& s) {
  char text[96];
  if (s.kind == "step")
    std::snprintf(text, sizeof text, "step(every=%lld, factor=%.9g)", (long long)s.every, s.factor);
  else if (s.kind == "cosine")
    std::snprintf(text, sizeof text, "cosine(min=%.9g)", s.min);
  else
    return s.kind;
  return text;
}

double scheduled_learning_rate(const TrainSettings& t, int64_t step, int64_t steps_per_epoch) {
  const double lr = t.optimizer.learning_rate;
  const ScheduleSettings& s = t.schedule;
  if (s.kind == "step") {
    const int64_t epoch = step / std::max<int64_t>(steps_per_epoch, 1);  // 0-based
    return lr * std::pow(s.factor, double(epoch / s.every));
  }
  if (s.kind == "cosine") {
    const double total = double(std::max<int64_t>(t.epochs * steps_per_epoch, 1));
    const double progress = std::min(double(step) / total, 1.0);
    return s.min + (lr - s.min) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  return lr;
}

const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::Input:
      return "input";
    case OpKind::Parameter:
      return "parameter";
    case OpKind::Dense:
      return "dense";
    case OpKind::Conv:
      return "conv";
    case OpKind::Pool:
      return "pool";
    case OpKind::Reshape:
      return "reshape";
    case OpKind::ConvBackwardData:
      return "conv_backward_data";
    case OpKind::ConvBackwardWeights:
      return "conv_backward_weights";
    case OpKind::ConvBackwardBias:
      return "conv_backward_bias";
    case OpKind::PoolBackward:
      return "pool_backward";
    case OpKind::ReshapeBackward:
      return "reshape_backward";
    case OpKind::Activation:
      return "activation";
    case OpKind::Corrupt:
      return "corrupt";
    case OpKind::Term:
      return "term";
    case OpKind::Objective:
      return "objective";
    case OpKind::DenseBackwardData:
      return "dense_backward_data";
    case OpKind::DenseBackwardWeights:
      return "dense_backward_weights";
    case OpKind::DenseBackwardBias:
      return "dense_backward_bias";
    case OpKind::ActivationBackward:
      return "activation_backward";
    case OpKind::CorruptBackward:
      return "corrupt_backward";
    case OpKind::TermBackward:
      return "term_backward";
    case OpKind::GradientSum:
      return "gradient_sum";
    case OpKind::OptimizerStep:
      return "optimizer_step";
  }
  return "?";
}

int64_t Node::elements_per_sample() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

NodeId Graph::add(Node node) {
  for (NodeId input : node.inputs) HG_ASSERT(input >= 0 && input < NodeId(nodes.size()), node.name);
  nodes.push_back(std::move(node));
  return NodeId(nodes.size() - 1);
}

NodeId Graph::find(const std::string& name) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == name && nodes[i].forward == kNoNode && nodes[i].op != OpKind::OptimizerStep)
      return NodeId(i);
  return kNoNode;
}

const DataBinding* Graph::binding(const std::string& name) const {
  for (const DataBinding& b : data)
    if (b.name == name) return &b;
  return nullptr;
}

std::string shape_string(const std::vector<int64_t>& dims, bool batched) {
  std::string out = batched ? "[N" : "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i || batched ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

static size_t expected_arity(const Node& n) {
  switch (n.op) {
    case OpKind::Input:
    case OpKind::Parameter:
      return 0;
    case OpKind::Activation:
    case OpKind::Corrupt:
    case OpKind::Pool:
    case OpKind::Reshape:
    case OpKind::DenseBackwardBias:
    case OpKind::ConvBackwardBias:
    case OpKind::ReshapeBackward:
      return 1;
    case OpKind::DenseBackwardData:
    case OpKind::DenseBackwardWeights:
    case OpKind::ConvBackwardData:
    case OpKind::ConvBackwardWeights:
    case OpKind::PoolBackward:
    case OpKind::ActivationBackward:
    case OpKind::CorruptBackward:
      return 2;
    default:
      return n.inputs.size();  // variadic
  }
}

void verify(const Graph& graph) {
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    const std::string where = "node " + std::to_string(i) + " '" + n.name + "' (" + op_name(n.op) + ")";
    HG_ASSERT(n.inputs.size() == expected_arity(n), where + ": wrong number of inputs");
    for (NodeId input : n.inputs)
      HG_ASSERT(input >= 0 && size_t(input) < i, where + ": input does not precede it");
    for (int64_t d : n.dims) HG_ASSERT(d > 0, where + ": non-positive dimension");
    if (n.op == OpKind::Dense) {
      HG_ASSERT(n.inputs.size() == 2 || n.inputs.size() == 3, where);
      const Node& src = graph.node(n.inputs[0]);
      const Node& weights = graph.node(n.inputs[1]);
      const int64_t k = src.elements_per_sample();
      const std::vector<int64_t> expect =
          n.transposed_weights ? std::vector<int64_t>{k, n.units} : std::vector<int64_t>{n.units, k};
      HG_ASSERT(weights.dims == expect, where + ": weights " + shape_string(weights.dims) + " do not fit");
    }
    if (n.op == OpKind::Reshape)
      HG_ASSERT(graph.node(n.inputs[0]).elements_per_sample() == n.elements_per_sample(),
                where + ": reshape size");
    if (n.op == OpKind::Objective) HG_ASSERT(n.weights.size() == n.inputs.size(), where);
    if (n.op == OpKind::Term || n.op == OpKind::Corrupt) HG_ASSERT(n.term != nullptr, where);
  }
  for (auto [parameter, gradient] : graph.parameter_gradient)
    HG_ASSERT(graph.node(parameter).dims == graph.node(gradient).dims,
              "gradient of '" + graph.node(parameter).name + "' has the wrong shape");
}

}  // namespace hg
