// A plan is a graph made executable for one batch size: the steps in topological order, one memory arena
// laid out once by liveness, every oneDNN primitive created once, and the dependency edges (data, reuse of
// arena memory, in-place parameter updates) that let a scheduler run steps in any order that respects them.
// Everything that can fail fails in the constructor, before the first step.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "plan/parameters.h"
#include "plugin/registry.h"
#include "support/memory_budget.h"

namespace hg {

// Train: forward, backward and optimizer step. Eval: forward only; corruptions are identity, sampling ops
// return their mean, normalization uses running statistics. Corrupted: Eval with corruptions and sampling
// active, to show what a denoising network is fed. Sampled: Eval with sampling ops drawing, as a VAE's
// test loss is usually reported.
enum class PlanMode { Train, Eval, Corrupted, Sampled };

// Data-parallel training (runtime/distributed.h): this plan computes shard `index` of `count` equal shards
// of each global batch, and the gradients of all shards are summed. Every loss gradient is scaled by
// 1 / count (a per-sample seed is weight / global batch), so that the sum is the gradient one process
// computes on the whole batch, and random draws that a plan makes itself count rows from the global batch's
// first row, so that they do not depend on how many shards there are.
struct Shard {
  int index = 0, count = 1;
};

// The arena a plan lays out: its size, and its largest value (what a refusal points at).
struct ArenaSize {
  int64_t floats = 0;
  NodeId largest = kNoNode;
  int64_t largest_floats = 0;
};

struct PlanStep {
  NodeId node = kNoNode;
  std::function<void()> run;
  std::vector<size_t> after;  // indices of steps that must finish first
  // A parameter's optimizer update (the optimizer node's share for that parameter): which parameter it
  // writes, kNoNode for every other step; and its name in profiles.
  NodeId updates = kNoNode;
  std::string label;
};

// The step a training plan is running, counted from 0 over the whole run (a resumed run goes on counting),
// and the run's steps in all (epochs x steps per epoch). train() sets it before each step; both stay 0 in a
// plan that train() does not drive, where an op that follows the run behaves as at its end.
struct TrainingProgress {
  int64_t step = 0, steps = 0;
};

class Plan {
 public:
  // `keep` lists nodes whose outputs must stay readable after a run (e.g. logits for accuracy). Plugin
  // terms are resolved by name in `plugins`, which must outlive the plan. `fed` nodes are filled by the
  // caller like inputs (a decoder run from its code); a plan with fed nodes computes only what `keep` needs.
  Plan(const Graph& graph, ParameterStore& parameters, const PluginRegistry& plugins, int64_t batch,
       PlanMode mode, const std::vector<NodeId>& keep = {}, const std::vector<NodeId>& fed = {},
       Shard shard = {});
  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  int64_t batch() const { return batch_; }
  Shard shard() const { return shard_; }
  PlanMode mode() const { return mode_; }
  const Graph& graph() const { return graph_; }
  const std::vector<PlanStep>& steps() const { return steps_; }
  int64_t arena_floats() const { return arena_.size(); }

  // The arena the constructor would allocate for these arguments, laid out as it lays it out, without
  // allocating or binding anything (`check` reports it).
  static ArenaSize arena_size(const Graph& graph, int64_t batch, PlanMode mode,
                              const std::vector<NodeId>& keep = {}, const std::vector<NodeId>& fed = {});
  // Reserves that arena in the memory budget (support/memory_budget.h) as the constructor does before it
  // allocates: a refusal is an hg::Error at the line of the arena's largest value.
  static MemoryCharge reserve_arena(const Graph& graph, const ArenaSize& size, int64_t batch, PlanMode mode);

  // The buffer behind a node's output: (batch x elements) for batched values. Inputs are filled by the
  // caller.
  float* buffer(NodeId node) const;
  double value(NodeId term_or_objective) const { return values_.at(size_t(node_index(term_or_objective))); }

  void set_step_seed(uint64_t seed) { step_seed_ = seed; }
  uint64_t step_seed() const { return step_seed_; }
  // Where a training run stands, for ops whose training forward follows the run (topk's annealed k).
  void set_progress(TrainingProgress progress) { progress_ = progress; }
  void run_serial();  // every step in order on the calling thread

 private:
  friend class StepContext;
  struct LayoutOnly {};
  // Picks the nodes, fuses activations and lays out the arena; allocates nothing.
  Plan(LayoutOnly, const Graph& graph, ParameterStore& parameters, int64_t batch, PlanMode mode,
       const std::vector<NodeId>& keep, const std::vector<NodeId>& fed, Shard shard);
  int64_t node_index(NodeId id) const { return id; }
  void fuse_activations(const std::vector<NodeId>& keep);
  void lay_out_arena(const std::vector<NodeId>& keep, const std::vector<NodeId>& fed);
  void assign_buffers();  // within the budget: the arena, then every node's buffer
  void add_optimizer_steps(NodeId optimizer);
  void add_dependencies();

  const Graph& graph_;
  ParameterStore& parameters_;
  int64_t batch_;
  PlanMode mode_;
  Shard shard_;
  ArenaSize arena_size_;
  MemoryCharge arena_memory_;  // declared before the arena, so that it is released after it
  FloatBuffer arena_;
  std::vector<bool> included_;  // per node: does this plan run it
  // Per node whose op takes a fused activation: the elementwise activation computed in its pass (kNoNode
  // if none). That activation's own step does nothing, and its output is the producer's buffer.
  std::vector<NodeId> fused_activation_;
  std::vector<bool> fused_;            // per activation node: computed by its producer
  std::vector<float*> buffers_;        // per node
  std::vector<int64_t> arena_offset_;  // per node, -1 outside the arena
  std::vector<double> values_;         // per node: term, objective and scalar loss values of the last run
  std::vector<PlanStep> steps_;
  // Per forward node (and variant), shared with its backward nodes.
  std::map<std::pair<NodeId, int>, std::shared_ptr<void>> kernels_;
  uint64_t step_seed_ = 0;
  TrainingProgress progress_;
};

}  // namespace hg
