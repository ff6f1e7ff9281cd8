// What an op's gradient rule may use: which values need a gradient, and how to add the backward nodes that
// compute one. Backward nodes keep their forward node's source location and, unless given their own, its
// attributes, so a gradient rule reads the same typed settings as its forward.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace hg {

class GradientContext {
 public:
  explicit GradientContext(Graph& graph);

  Graph& graph() { return graph_; }
  const Node& node(NodeId id) const { return graph_.node(id); }
  // Whether `value` depends on a trainable parameter.
  bool needs(NodeId value) const { return needs_.at(size_t(value)); }
  // Adds one gradient of `value`; several are summed before `value`'s own rule runs.
  void contribute(NodeId value, NodeId gradient) { contributions_[value].push_back(gradient); }
  // A backward node of `op` for `forward`, shaped like `shaped_like`.
  NodeId add(const Op& op, NodeId forward, std::vector<NodeId> inputs, NodeId shaped_like, std::string name,
             std::shared_ptr<Attributes> attributes = nullptr);
  // The common case: when input `index` of `forward` needs a gradient, a node of `op` reading `inputs`,
  // shaped like that input and named d<forward>/d<input>, is added and contributed to it.
  void input_gradient(const Op& op, NodeId forward, size_t index, std::vector<NodeId> inputs,
                      std::shared_ptr<Attributes> attributes = nullptr);
  void set_parameter_gradient(NodeId parameter, NodeId gradient) {
    graph_.parameter_gradient[parameter] = gradient;
  }

 private:
  friend class Differentiator;
  Graph& graph_;
  std::vector<bool> needs_;
  std::map<NodeId, std::vector<NodeId>> contributions_;
};

}  // namespace hg
