// What an op's kernel binding may use while a plan is built: the node's buffers (fixed for the plan's
// life), the batch, the mode, kernel objects shared between a forward node and its backward nodes, the
// plan's random seed and term values, the parameters and the loaded plugins. A binding creates its kernels
// (oneDNN primitives) here, once, and returns a step that only runs them.
#pragma once

#include <functional>
#include <memory>

#include "plan/plan.h"
#include "plugin/registry.h"

namespace hg {

class StepContext {
 public:
  StepContext(Plan& plan, const PluginRegistry& plugins) : plan_(plan), plugins_(plugins) {}

  const Graph& graph() const { return plan_.graph_; }
  const Node& node(NodeId id) const { return plan_.graph_.node(id); }
  int64_t batch() const { return plan_.batch_; }
  // Data-parallel training (Shard): the factor on every loss gradient, 1 / shards (1 in one process); the
  // rows of the global batch, which per-sample loss gradients are means over; and which shard this is.
  double gradient_share() const { return 1.0 / double(plan_.shard_.count); }
  int64_t global_batch() const { return plan_.batch_ * plan_.shard_.count; }
  int shard_index() const { return plan_.shard_.index; }
  PlanMode mode() const { return plan_.mode_; }
  // Training's forward: batch statistics, running-statistic updates.
  bool training() const { return plan_.mode_ == PlanMode::Train; }
  // Corruptions active (training, and showing what a denoising network is fed).
  bool corrupting() const { return plan_.mode_ == PlanMode::Train || plan_.mode_ == PlanMode::Corrupted; }
  // Sampling ops draw instead of returning their mean.
  bool sampling() const { return plan_.mode_ != PlanMode::Eval; }
  float* buffer(NodeId id) const { return plan_.buffers_[size_t(id)]; }
  float* input(NodeId id, size_t index) const { return buffer(node(id).inputs.at(index)); }
  // Floats in the node's buffer: batch x elements for batched values.
  int64_t count(NodeId id) const {
    const Node& n = node(id);
    return (n.batched ? plan_.batch_ : 1) * n.elements_per_sample();
  }
  NodeId forward_of(NodeId id) const {
    const NodeId f = node(id).forward;
    return f == kNoNode ? id : f;
  }
  // The activation node computed in `producer`'s pass (kNoNode if none), and whether `activation` is.
  NodeId fused_activation(NodeId producer) const { return plan_.fused_activation_[size_t(producer)]; }
  bool fused(NodeId activation) const { return plan_.fused_[size_t(activation)]; }
  // Where the step of a term, objective or scalar value keeps its value of the last run (Plan::value).
  double* value_slot(NodeId id) const { return &plan_.values_[size_t(id)]; }
  const uint64_t* step_seed() const { return &plan_.step_seed_; }
  // Read when the step runs (train() moves it on before each step): see TrainingProgress.
  const TrainingProgress* progress() const { return &plan_.progress_; }
  ParameterStore& parameters() const { return plan_.parameters_; }
  const PluginRegistry& plugins() const { return plugins_; }

  // One kernel object per forward node (and variant), created on first use and shared with its backward
  // nodes, so a layer's primitives are created once per plan.
  template <class K>
  std::shared_ptr<K> shared_kernel(NodeId forward, const std::function<std::shared_ptr<K>()>& make,
                                   int variant = 0) {
    auto it = plan_.kernels_.find({forward, variant});
    if (it != plan_.kernels_.end()) return std::static_pointer_cast<K>(it->second);
    std::shared_ptr<K> kernel = make();
    plan_.kernels_[{forward, variant}] = kernel;
    return kernel;
  }

 private:
  Plan& plan_;
  const PluginRegistry& plugins_;
};

}  // namespace hg
