// The static graph: nodes in topological order (every input precedes its consumer), each producing at most
// one value, with shapes known before anything runs. Forward nodes come from a graph file (lower.cpp);
// autodiff appends backward nodes and the optimizer step. Backward nodes keep their forward node's source
// location, so an error while running one points at the line the user wrote.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/data_binding.h"
#include "kernels/activation.h"
#include "plugin/registry.h"
#include "support/diagnostics.h"

namespace hg {

using NodeId = int32_t;
constexpr NodeId kNoNode = -1;

enum class OpKind {
  // forward
  Input,       // a batch of samples from the data pipeline; source "image" or "label" (one-hot)
  Parameter,   // a trainable tensor, named node.weights / node.bias
  Dense,       // inputs: src, weights, [bias]
  Conv,        // inputs: src [C,H,W], weights [OC,C,K,K], [bias]; transposed_weights marks a transposed conv
  Pool,        // inputs: src [C,H,W]; max or average
  Reshape,     // inputs: src; same elements, new per-sample dims
  Activation,  // inputs: src
  Corrupt,     // plugin corruption term; inputs: src; identity in evaluation
  Term,        // plugin loss/regularizer term; scalar output; inputs: the term's inputs
  Objective,   // weighted sum of Term nodes; scalar
  // backward (appended by autodiff)
  DenseBackwardData,     // inputs: diff_dst, weights
  DenseBackwardWeights,  // inputs: diff_dst, src
  DenseBackwardBias,     // inputs: diff_dst
  ConvBackwardData,      // inputs: diff_dst, weights
  ConvBackwardWeights,   // inputs: diff_dst, src
  ConvBackwardBias,      // inputs: diff_dst
  PoolBackward,          // inputs: diff_dst, src
  ReshapeBackward,       // inputs: diff_dst
  ActivationBackward,    // inputs: diff_dst, dst
  CorruptBackward,       // inputs: diff_dst, src
  TermBackward,          // inputs: the term's inputs; gradient w.r.t. input `input_index`
  GradientSum,           // inputs: several gradients of one value
  OptimizerStep,         // inputs: parameter, gradient pairs; updates parameters in place, no output
};
const char* op_name(OpKind op);

struct Node {
  OpKind op = OpKind::Input;
  std::string name;  // the user's name for forward nodes; derived names for the rest
  SourceLocation location;
  std::vector<NodeId> inputs;
  std::vector<int64_t> dims;  // per-sample dims when batched, full dims otherwise; {} is a scalar
  bool batched = false;       // leading batch dimension implied

  // attributes (used by the ops noted)
  std::string source;                       // Input
  int64_t units = 0;                        // Dense
  bool transposed_weights = false;          // Dense: weights stored (in, out); Conv: transposed convolution
  int64_t kernel = 0, stride = 1, pad = 0;  // Conv, Pool (square windows)
  bool max_pool = true;                     // Pool: max, else average
  Activation activation = Activation::Linear;  // Activation(Backward)
  const TermRef* term = nullptr;               // Term, Corrupt and their backward
  std::vector<double> term_params;             // in the term's parameter order
  std::vector<double> weights;                 // Objective: one weight per input
  double scale = 1;                            // TermBackward: d objective / d term
  int input_index = 0;                         // TermBackward
  bool trainable = true;                       // Parameter: false when frozen
  double lr_mult = 1;                          // Parameter: multiplies the optimizer's learning rate
  NodeId forward = kNoNode;                    // backward nodes: the forward node they differentiate

  int64_t elements_per_sample() const;  // product of dims (1 for a scalar)
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
