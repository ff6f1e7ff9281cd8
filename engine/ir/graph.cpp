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
    if (nodes[i].name == name && nodes[i].forward == kNoNode && !nodes[i].is(OpRole::OptimizerStep))
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

void verify(const Graph& graph) {
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    HG_ASSERT(n.op, "node " + std::to_string(i) + " '" + n.name + "' has no op");
    const std::string where = "node " + std::to_string(i) + " '" + n.name + "' (" + n.op->name() + ")";
    HG_ASSERT(n.op->arity() < 0 || n.inputs.size() == size_t(n.op->arity()),
              where + ": wrong number of inputs");
    for (NodeId input : n.inputs)
      HG_ASSERT(input >= 0 && size_t(input) < i, where + ": input does not precede it");
    for (int64_t d : n.dims) HG_ASSERT(d > 0, where + ": non-positive dimension");
    n.op->verify(graph, n);
  }
  for (auto [parameter, gradient] : graph.parameter_gradient)
    HG_ASSERT(graph.node(parameter).dims == graph.node(gradient).dims,
              "gradient of '" + graph.node(parameter).name + "' has the wrong shape");
}

}  // namespace hg
