// Memory planning (first-fit by liveness over one arena) and dependency edges. Each step's kernel binding is
// its op's own (engine/ops/), reached through StepContext.
#include "plan/plan.h"

#include <algorithm>
#include <set>

#include "plan/step_context.h"

namespace hg {

// The nodes a plan runs: whatever the objective (and, training, the optimizer step) or a kept node needs.
// Evaluation leaves out backward nodes; training leaves out forward nodes nothing consumes (a softmax kept
// only for inspection, say).
static std::vector<bool> needed_nodes(const Graph& g, PlanMode mode, const std::vector<NodeId>& keep,
                                      const std::vector<NodeId>& fed) {
  std::vector<bool> needed(g.nodes.size(), false);
  std::vector<NodeId> work = keep;
  if (g.objective != kNoNode && fed.empty()) work.push_back(g.objective);
  for (NodeId id = 0; id < NodeId(g.nodes.size()); ++id)
    if (mode == PlanMode::Train && g.node(id).is(OpRole::OptimizerStep)) work.push_back(id);
  while (!work.empty()) {
    const NodeId id = work.back();
    work.pop_back();
    if (needed[id]) continue;
    needed[id] = true;
    if (std::find(fed.begin(), fed.end(), id) != fed.end()) continue;  // the caller fills it
    for (NodeId input : g.node(id).inputs) work.push_back(input);
  }
  return needed;
}

Plan::Plan(LayoutOnly, const Graph& graph, ParameterStore& parameters, int64_t batch, PlanMode mode,
           const std::vector<NodeId>& keep, const std::vector<NodeId>& fed, Shard shard)
    : graph_(graph), parameters_(parameters), batch_(batch), mode_(mode), shard_(shard) {
  HG_ASSERT(batch > 0, "batch must be positive");
  HG_ASSERT(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, "shard out of range");
  HG_ASSERT(mode != PlanMode::Train || graph.has_backward(), "a training plan needs autodiff's nodes");
  buffers_.assign(graph.nodes.size(), nullptr);
  arena_offset_.assign(graph.nodes.size(), -1);
  values_.assign(graph.nodes.size(), 0.0);
  HG_ASSERT(fed.empty() || mode != PlanMode::Train, "a training plan computes every node itself");
  included_ = needed_nodes(graph, mode, keep, fed);
  fuse_activations(keep);
  lay_out_arena(keep, fed);
}

Plan::Plan(const Graph& graph, ParameterStore& parameters, const PluginRegistry& plugins, int64_t batch,
           PlanMode mode, const std::vector<NodeId>& keep, const std::vector<NodeId>& fed, Shard shard)
    : Plan(LayoutOnly{}, graph, parameters, batch, mode, keep, fed, shard) {
  assign_buffers();
  StepContext context(*this, plugins);
  for (NodeId id = 0; id < NodeId(graph.nodes.size()); ++id) {
    const Node& node = graph.node(id);
    const bool is_fed = std::find(fed.begin(), fed.end(), id) != fed.end();
    if (!included_[id] || is_fed || node.is(OpRole::Input) || node.is(OpRole::Parameter)) continue;
    if (node.is(OpRole::OptimizerStep) && shard.count == 1)
      add_optimizer_steps(id);
    else
      steps_.push_back(PlanStep{id, node.op->bind(context, id), {}, kNoNode, {}});
  }
  add_dependencies();
}

ArenaSize Plan::arena_size(const Graph& graph, int64_t batch, PlanMode mode, const std::vector<NodeId>& keep,
                           const std::vector<NodeId>& fed) {
  static ParameterStore none;  // a layout reads no parameter
  return Plan(LayoutOnly{}, graph, none, batch, mode, keep, fed, Shard{}).arena_size_;
}

static const char* mode_text(PlanMode mode) {
  switch (mode) {
    case PlanMode::Train:
      return "training";
    case PlanMode::Eval:
      return "evaluation";
    case PlanMode::Corrupted:
      return "corrupted evaluation";
    case PlanMode::Sampled:
      return "sampled evaluation";
  }
  return "";
}

MemoryCharge Plan::reserve_arena(const Graph& graph, const ArenaSize& size, int64_t batch, PlanMode mode) {
  const double bytes = double(size.floats) * sizeof(float);
  const std::string needs = std::string("the ") + mode_text(mode) + " plan's activations" +
                            (mode == PlanMode::Train ? " and gradients" : "") + " at batch " +
                            std::to_string(batch) + " need";
  if (size.largest == kNoNode) return reserve_memory(bytes, {graph.file, 0, 0}, needs);
  const Node& n = graph.node(size.largest);
  std::vector<int64_t> dims = n.dims;
  if (n.batched) dims.insert(dims.begin(), batch);
  return reserve_memory(bytes, n.location, needs,
                        "the largest, '" + n.name + "' " + shape_string(dims) + ", holds " +
                            std::to_string(size.largest_floats) +
                            " values; a smaller batch (--set batch=N) needs less");
}

Plan::~Plan() = default;

float* Plan::buffer(NodeId node) const {
  return buffers_.at(size_t(node));
}

void Plan::run_serial() {
  for (PlanStep& step : steps_) step.run();
}

// dense |> relu, sigmoid or tanh: when the activation is the only reader of its producer's output (and
// nobody keeps that output), the producer's kernel applies it as a oneDNN post-op, saving a pass over the
// batch. The backward pass needs only the activation's output, so the pre-activation values are never
// missed.
void Plan::fuse_activations(const std::vector<NodeId>& keep) {
  const size_t n = graph_.nodes.size();
  fused_activation_.assign(n, kNoNode);
  fused_.assign(n, false);
  std::vector<int> readers(n, 0);
  for (NodeId id = 0; id < NodeId(n); ++id)
    if (included_[id])
      for (NodeId input : graph_.node(id).inputs) ++readers[input];
  for (NodeId id = 0; id < NodeId(n); ++id) {
    const Node& node = graph_.node(id);
    if (!included_[id] || !node.op->fusable_activation(node)) continue;
    const NodeId producer = node.inputs.at(0);
    if (!included_[producer] || !graph_.node(producer).op->takes_fused_activation() || readers[producer] != 1)
      continue;
    if (std::find(keep.begin(), keep.end(), producer) != keep.end()) continue;
    fused_activation_[producer] = id;
    fused_[id] = true;
  }
}

namespace {
struct Block {
  int64_t offset, size;
  NodeId node;
};

int64_t first_fit(const std::vector<Block>& live, int64_t size) {
  int64_t candidate = 0;
  for (const Block& b : live) {  // sorted by offset
    if (b.offset - candidate >= size) return candidate;
    candidate = std::max(candidate, b.offset + b.size);
  }
  return candidate;
}
}  // namespace

// Parameters and their final gradients live in the ParameterStore; every other value gets an arena range
// from its definition to its last reader. Ranges are padded to 64 bytes.
void Plan::lay_out_arena(const std::vector<NodeId>& keep, const std::vector<NodeId>& fed) {
  const size_t n = graph_.nodes.size();
  std::map<NodeId, NodeId> gradient_of;  // final gradient node -> parameter
  for (auto [parameter, gradient] : graph_.parameter_gradient) gradient_of[gradient] = parameter;
  std::vector<NodeId> last_use(n, kNoNode);
  for (NodeId id = 0; id < NodeId(n); ++id)
    if (included_[id])
      for (NodeId input : graph_.node(id).inputs) last_use[input] = id;
  for (NodeId id : keep) last_use.at(id) = NodeId(n);
  for (NodeId id : fed) last_use.at(id) = NodeId(n);
  for (NodeId id = 0; id < NodeId(n); ++id)  // inputs stay intact, so a plan can rerun on the same batch
    if (graph_.node(id).is(OpRole::Input)) last_use[id] = NodeId(n);
  for (NodeId id = 0; id < NodeId(n); ++id)  // a fused activation lives in its dense node's block
    if (fused_[id]) last_use[graph_.node(id).inputs[0]] = last_use[id];
  std::vector<Block> live;
  int64_t high_water = 0;
  for (NodeId id = 0; id < NodeId(n); ++id) {
    const Node& node = graph_.node(id);
    if (!included_[id] || node.is(OpRole::OptimizerStep)) continue;
    if (node.is(OpRole::Parameter) || (mode_ == PlanMode::Train && gradient_of.count(id))) continue;
    if (fused_[id]) {
      arena_offset_[id] = arena_offset_[node.inputs[0]];
      continue;
    }
    const int64_t size = ((node.batched ? batch_ : 1) * node.elements_per_sample() + 15) / 16 * 16;
    const int64_t offset = first_fit(live, size);
    Block block{offset, size, id};
    live.insert(std::upper_bound(live.begin(), live.end(), block,
                                 [](const Block& a, const Block& b) { return a.offset < b.offset; }),
                block);
    arena_offset_[id] = offset;
    high_water = std::max(high_water, offset + size);
    const int64_t values = (node.batched ? batch_ : 1) * node.elements_per_sample();
    if (values > arena_size_.largest_floats) arena_size_ = {0, id, values};
    // Free what this step read for the last time; values nobody reads stay to the end (scalars, outputs).
    live.erase(
        std::remove_if(live.begin(), live.end(), [&](const Block& b) { return last_use[b.node] == id; }),
        live.end());
  }
  arena_size_.floats = high_water;
}

void Plan::assign_buffers() {
  arena_memory_ = reserve_arena(graph_, arena_size_, batch_, mode_);
  arena_ = FloatBuffer(arena_size_.floats);
  std::map<NodeId, NodeId> gradient_of;  // final gradient node -> parameter
  for (auto [parameter, gradient] : graph_.parameter_gradient) gradient_of[gradient] = parameter;
  for (NodeId id = 0; id < NodeId(graph_.nodes.size()); ++id) {
    const Node& node = graph_.node(id);
    if (arena_offset_[id] >= 0)
      buffers_[id] = arena_.data() + arena_offset_[id];  // a fused one: its producer's
    if (node.is(OpRole::Parameter)) buffers_[id] = parameters_.value(id);
    if (mode_ == PlanMode::Train && gradient_of.count(id))
      buffers_[id] = parameters_.gradient(gradient_of[id]);
  }
}

// The optimizer step as one update per trainable parameter, each free to run as soon as the parameter's
// final gradient is written and every reader of its value has run (add_dependencies), while the gradient
// is still in cache: one pass over all parameters after the whole backward pass found them evicted. A last
// step, after every update, counts the step. Data-parallel plans keep the single update, which must wait
// for the gradient sums of all processes.
void Plan::add_optimizer_steps(NodeId optimizer) {
  ParameterStore* store = &parameters_;
  const OptimizerSettings settings = graph_.train.optimizer;
  for (const ParameterSlot& slot : parameters_.slots()) {
    // A parameter the objective does not reach has no gradient node: its gradient stays 0, which would
    // leave it unchanged, so it gets no update.
    if (!slot.trainable || !graph_.parameter_gradient.count(slot.node)) continue;
    const ParameterSlot* s = &slot;
    steps_.push_back(PlanStep{
        optimizer, [=] { optimizer_update(settings, *store, *s); }, {}, slot.node, "update of " + slot.name});
  }
  steps_.push_back(PlanStep{optimizer, [store] { ++store->step; }, {}, kNoNode, {}});
}

// Edges: a step follows the producers of its inputs; a step whose output reuses arena memory follows every
// reader of the earlier occupant; a parameter's update follows its gradient and every reader of its value.
void Plan::add_dependencies() {
  // The optimizer's steps read every parameter and gradient; no other step follows them, and the edges
  // among them are added below.
  auto optimizer = [&](size_t s) { return graph_.node(steps_[s].node).is(OpRole::OptimizerStep); };
  std::map<NodeId, size_t> step_of;
  std::map<NodeId, std::vector<size_t>> readers;
  for (size_t s = 0; s < steps_.size(); ++s) {
    if (optimizer(s)) continue;
    step_of[steps_[s].node] = s;
    for (NodeId input : graph_.node(steps_[s].node).inputs) readers[input].push_back(s);
  }
  auto overlaps = [&](NodeId a, NodeId b) {
    const int64_t sa = arena_offset_[a], sb = arena_offset_[b];
    if (sa < 0 || sb < 0) return false;
    const int64_t ea = sa + (graph_.node(a).batched ? batch_ : 1) * graph_.node(a).elements_per_sample();
    const int64_t eb = sb + (graph_.node(b).batched ? batch_ : 1) * graph_.node(b).elements_per_sample();
    return sa < eb && sb < ea;
  };
  for (size_t s = 0; s < steps_.size(); ++s) {
    std::set<size_t> after;
    const NodeId id = steps_[s].node;
    if (steps_[s].updates == kNoNode)
      for (NodeId input : graph_.node(id).inputs)
        if (step_of.count(input)) after.insert(step_of[input]);
    for (size_t earlier = 0; earlier < s; ++earlier) {
      const NodeId other = steps_[earlier].node;
      if (!overlaps(id, other)) continue;
      after.insert(earlier);
      for (size_t r : readers[other])
        if (r < s) after.insert(r);
    }
    if (steps_[s].updates != kNoNode) {  // one parameter's update: after its gradient and its readers
      const NodeId gradient = graph_.parameter_gradient.at(steps_[s].updates);
      if (step_of.count(gradient)) after.insert(step_of[gradient]);
      for (size_t r : readers[steps_[s].updates]) after.insert(r);
    } else if (optimizer(s)) {  // the whole update, or counting the step after the per-parameter ones
      for (NodeId p : graph_.parameters)
        for (size_t r : readers[p]) after.insert(r);
      for (size_t u = 0; u < s; ++u)
        if (steps_[u].updates != kNoNode) after.insert(u);
    }
    steps_[s].after.assign(after.begin(), after.end());
  }
}

}  // namespace hg
