// The static graph: nodes in topological order (every input precedes its consumer), each producing at most
// one value, with shapes known before anything runs. Forward nodes come from a graph file (lower.cpp);
// autodiff appends backward nodes and the optimizer step. Backward nodes keep their forward node's source
// location, so an error while running one points at the line the user wrote.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/data_binding.h"
#include "ir/op.h"
#include "ir/terms.h"
#include "support/diagnostics.h"

namespace hg {

constexpr NodeId kNoNode = -1;

struct Node {
  const Op* op = nullptr;
  std::string name;  // the user's name for forward nodes; derived names for the rest
  SourceLocation location;
  std::vector<NodeId> inputs;
  std::vector<int64_t> dims;  // per-sample dims when batched, full dims otherwise; {} is a scalar
  bool batched = false;       // leading batch dimension implied
  // The op's own settings (an ops/ file's struct); backward nodes share their forward node's.
  std::shared_ptr<Attributes> attributes;
  NodeId forward = kNoNode;  // backward nodes: the forward node they differentiate

  OpRole role() const { return op->role(); }
  bool is(OpRole r) const { return op->role() == r; }
  int64_t elements_per_sample() const;  // product of dims (1 for a scalar)
  // The attributes as the op's own type; asserts that they are.
  template <class T>
  T& attributes_as() const {
    T* typed = dynamic_cast<T*>(attributes.get());
    HG_ASSERT(typed, "node '" + name + "' (" + op->name() + ") has no attributes of the expected type");
    return *typed;
  }
};

// The attributes of the structural ops, which passes below the ops layer read.
struct InputAttributes : Attributes {
  std::string source;  // "image" or "label" (one-hot)
};
struct ParameterAttributes : Attributes {
  bool trainable = true;  // false when frozen
  double lr_mult = 1;     // multiplies the optimizer's learning rate
  // A buffer (batchnorm's running statistics) is state, not a trained parameter: never trainable, no
  // gradient, out of reach of freeze and lr_mult; its op's forward writes it in training. Checkpoints save it
  // next to the parameters, under its own name.
  bool buffer = false;
  float initial = 0;  // every element's value before training, where not Glorot-initialized (rank < 2)
  // The inputs that feed each output of the layer that owns this weight or bias (dense: its inputs; conv2d:
  // input channels x kernel x kernel; deconv2d: output channels x kernel x kernel, as PyTorch counts them);
  // 0 for other parameters. `initializer = fan_in` draws both from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  int64_t fan_in = 0;
};
// A plugin term or corruption, named here and resolved against the loaded plugins when a plan is built.
struct TermAttributes : Attributes {
  std::string term;                // "loss.bce"
  int32_t kind = HG_TERM_LOSS;     // HG_TERM_*
  std::vector<double> parameters;  // in the term's parameter order
};
// d objective / d input k = weights[k]. A scalar input adds weights[k] * value; a per-sample value of one
// element adds weights[k] * its mean over the batch, as plugin terms average over the batch.
struct ObjectiveAttributes : Attributes {
  std::vector<double> weights;
};

struct OptimizerSettings {
  std::string kind = "sgd";  // sgd | adam
  SourceLocation location;
  double learning_rate = 0.01, momentum = 0, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
};
// Optimizer state arenas a kind uses: SGD's momentum buffer, Adam's two moments.
inline int optimizer_states(const OptimizerSettings& o) {
  return o.kind == "adam" ? 2 : 1;
}

// How the learning rate moves over a run. constant; step(every=N, factor=F): multiplied by F after every N
// epochs; cosine(min=LR): from the optimizer's lr down to `min` along a half cosine over all the run's steps.
struct ScheduleSettings {
  std::string kind = "constant";  // constant | step | cosine
  SourceLocation location;
  int64_t every = 1;
  double factor = 0.1, min = 0;
};
// The schedule as its graph text, e.g. "cosine(min=0.001)"; checkpoints record it.
std::string describe(const ScheduleSettings& schedule);

struct TrainSettings {
  OptimizerSettings optimizer;
  ScheduleSettings schedule;
  int64_t batch = 64, epochs = 1;
  int64_t test_every = 1;  // evaluate the test data after every Nth epoch, and after the last
  uint64_t seed = 1;
  // `select = best(DATA, METRIC)`: keep the epoch that scores best on data DATA by METRIC (loss, accuracy
  // or a term's key); empty `select_data`: no selection. `patience = N` stops N epochs after the best.
  std::string select_data, select_metric;
  SourceLocation select_location;
  int64_t patience = 0;  // 0: never stop early
  SourceLocation patience_location;
  // `precision = bf16`: training's dense GEMMs read bf16 copies of their operands and accumulate in f32;
  // the weights, their gradients and the optimizer stay f32, and evaluation runs in f32 (kernels/dense.h).
  std::string precision = "f32";  // f32 | bf16
  SourceLocation precision_location;
  // `initializer = fan_in`: every layer's weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
  // PyTorch's default for Linear and Conv layers; `glorot` (the default): Glorot-uniform weights, zero
  // biases.
  std::string initializer = "glorot";  // glorot | fan_in
  SourceLocation location;
};
// The learning rate of optimizer step `step` (0-based, counted over the whole run) when an epoch has
// `steps_per_epoch` steps: a pure function, so a resumed run follows the same curve.
double scheduled_learning_rate(const TrainSettings& settings, int64_t step, int64_t steps_per_epoch);

struct Graph {
  std::string file;
  std::string source_hash;  // FNV-1a of the file's text, recorded in checkpoints
  std::vector<Node> nodes;
  std::vector<DataBinding> data;
  TrainSettings train;
  NodeId objective = kNoNode;
  const OpTable* ops = nullptr;                 // the ops its nodes use (immortal)
  std::vector<NodeId> parameters;               // in definition order
  std::map<NodeId, NodeId> parameter_gradient;  // parameter -> its final gradient node (after autodiff)

  NodeId add(Node node);  // appends, returns its id
  const Node& node(NodeId id) const { return nodes.at(id); }
  NodeId find(const std::string& name) const;  // forward nodes and parameters by name; kNoNode if absent
  const DataBinding* binding(const std::string& name) const;
  bool has_backward() const { return !parameter_gradient.empty(); }
};

std::string shape_string(const std::vector<int64_t>& dims, bool batched = false);  // "[784]", "[N, 784]"

// Checks the invariants every pass relies on (inputs precede consumers, arity, shapes agree). A failure is a
// bug in hourglass, not a user error: it throws std::logic_error naming the node.
void verify(const Graph& graph);

}  // namespace hg
