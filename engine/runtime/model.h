// A model is a graph file made trainable: its plugins, its IR with backward nodes, and its parameters.
// train() and evaluate() drive plans over real data; they report through callbacks and never print.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "ir/graph.h"
#include "plan/parameters.h"
#include "plan/plan.h"
#include "plugin/registry.h"
#include "runtime/data_load.h"
#include "support/memory_budget.h"

namespace hg {

class ProcessGroup;

struct ModelOptions {
  std::vector<std::string> plugin_dirs;  // searched after the built-in folder, before $HOURGLASS_PLUGIN_PATH
  std::vector<std::string> settings;     // `--set key=value` overrides of the train block
  std::vector<std::string> freeze =
      {};  // `--freeze GLOB`: like the graph's `freeze`, applied before autodiff
  // Told about plugins that failed to load, before the graph is read: a broken plugin must not pass
  // unnoticed just because the graph happens not to use its terms.
  std::function<void(const std::vector<Diagnostic>&)> on_plugin_errors = {};
  int64_t limit =
      0;  // `--limit N`: every data binding's slice trimmed to N samples (recorded in checkpoints)
  // false: the graph is built but its parameters are not allocated (`check` estimates them instead).
  bool allocate_parameters = true;
};

struct EvalResult {
  int64_t samples = 0;
  double loss = 0;  // the weighted sum of the terms' means
  // Each term's mean, unweighted, under its key (term_keys: "reg.l2#2" for the second use of reg.l2), and
  // its weight in the loss.
  std::vector<std::pair<std::string, double>> terms;
  std::vector<double> weights;
  std::optional<double> accuracy;  // where a loss compares with a label input
};
// An evaluation on one held-out data set of the graph ("valid", "test", ...).
struct NamedEval {
  std::string data;
  EvalResult result;
};
// The train block's `select = best(DATA, METRIC)` state: what train() compares each evaluation with. A
// checkpoint carries it (to_json), so that a resumed run keeps its best-so-far and its patience.
struct Selection {
  int64_t best_epoch = 0;  // 0: no evaluation has scored yet
  double best_value = 0;
  std::vector<NamedEval> best_evals;  // every eval set's figures at the best epoch
  bool stopped = false;               // patience ran out: training does not continue
  std::string to_json() const;
  static Selection from_json(const std::string& text);  // throws hg::Error on malformed text
};
// METRIC of `select` read from an evaluation: loss, accuracy or a term's key; nullopt when it has none.
std::optional<double> metric_value(const EvalResult& result, const std::string& metric);
bool metric_maximized(const std::string& metric);  // accuracy rises, losses fall

class Model {
 public:
  Model(const std::string& graph_path, const ModelOptions& options);  // parameters initialized from the seed
  PluginRegistry plugins;  // declared first: the graph points at its terms
  Graph graph;
  MemoryCharge parameter_memory;  // the parameters' share of the memory budget, reserved before they are
  ParameterStore parameters;
  int64_t epoch = 0;  // epochs completed: train() continues after it, checkpoints record and restore it
  Selection selection;
  std::vector<NodeId> terms() const;  // the objective's terms and scalar values, in order
};
// Reserves in the memory budget (support/memory_budget.h) what the graph's parameters take with their
// gradients and optimizer state; a refusal is an hg::Error at the largest parameter's line. The Model's
// constructor calls it before allocating them, `check` instead of allocating them.
MemoryCharge reserve_parameters(const Graph& graph);

// What logs and reports call an objective input: the plugin term's name, or the value's own name.
std::string term_label(const Graph& graph, NodeId term);

// The graph's first input fed with images (not labels); an hg::Error at the graph file when it has none.
NodeId image_input(const Graph& graph);
// What the network reconstructs the image input as: the prediction of the first loss that compares a value
// with it. kNoNode when no loss does (a classifier).
NodeId reconstruction(const Graph& graph);
// A forward value with one row per sample, named by the user at `where` ("--node 'code'"): an unknown
// name (with a did-you-mean), a parameter or a scalar loss is an hg::Error that says what to give instead.
NodeId activation_node(const Graph& graph, const std::string& name, const std::string& where);

// `sample`: sampling ops draw (PlanMode::Sampled) instead of returning their mean, from a stream fixed by the
// graph's seed and the batch index, so a sampled evaluation reproduces.
// With a group of several processes, each scores every N-th batch and the sums are combined, so every
// process gets the whole set's figures (equal up to summation order to one process's).
EvalResult evaluate(Model& model, const Dataset& data, int64_t batch, bool sample = false,
                    ProcessGroup* group = nullptr);
// The plans evaluate() builds for `count` samples at `batch`, laid out without allocating anything: the full
// batches' and the tail's (either may be missing). Both are allocated at once.
struct EvaluationArena {
  int64_t batch = 0;
  ArenaSize size;
};
std::vector<EvaluationArena> evaluation_arenas(const Graph& graph, int64_t count, int64_t batch);

// Runs the evaluation plan over `data` in order (no shuffle) and hands `node`'s outputs to `sink`, a batch
// at a time: `rows` x elements_per_sample floats for samples [first, first + rows).
using ActivationSink = std::function<void(const float* values, int64_t first, int64_t rows)>;
void for_each_activation(Model& model, const Dataset& data, NodeId node, int64_t batch,
                         const ActivationSink& sink);

struct Progress {
  int64_t epoch = 0, epochs = 0, step = 0, steps_per_epoch = 0;
  double loss = 0;  // running mean over the epoch so far
  double samples_per_second = 0, eta_seconds = 0;
};
struct EpochReport {
  int64_t epoch = 0;
  double seconds = 0, samples_per_second = 0;
  double learning_rate = 0;  // the schedule's lr at the epoch's last step
  EvalResult train;          // running means over the epoch's batches
  // Every data set of the graph but `train`, in graph order, on evaluation epochs (test_every, the last).
  std::vector<NamedEval> evals;
  const EvalResult* eval(const std::string& data) const;  // nullptr when not evaluated this epoch
  bool best = false;   // `select`: this epoch is the best so far; its weights are the ones to keep
  bool stops = false;  // `patience`: no improvement for that many epochs, so training ends after it
};
struct StepProfile {
  struct Part {
    std::string name;    // the node's name and op, e.g. "code.dense (Dense)"
    double seconds = 0;  // mean per training step
  };
  std::vector<Part> parts;   // the plan's steps, in order
  double between_steps = 0;  // mean seconds per training step outside the plan's steps and the waits
  // Data-parallel: mean seconds per training step inside MPI, the gradient sums that computation did not
  // hide (waiting for them, and MPI's own work on them between steps); 0 in one process.
  double mpi = 0;
  int processes = 1;
  int64_t steps = 0;  // training steps measured
};
struct TrainOptions {
  std::string data_dir = default_data_dir();
  int64_t limit = 0;
  std::function<void(const Progress&)> on_progress;  // called at most ~5 times a second
  std::function<void(const EpochReport&)> on_epoch;  // after model.epoch has advanced: a checkpoint point
  // Set: every training step is clocked, and after the last epoch this gets the mean per step of the plan
  // (plan order, first step left out) and of everything between steps (data hand-off, loss bookkeeping).
  std::function<void(const StepProfile&)> on_profile;
  // Data-parallel training (runtime/distributed.h): this process trains its shard of every batch with the
  // group's other processes. Null: this process alone.
  ProcessGroup* group = nullptr;
  // Training steps run at most this many plan steps at once (Executor); 1 unless asked. Profiles and
  // data-parallel runs always run one at a time.
  int step_concurrency = 1;
};
// Trains epochs model.epoch + 1 .. the graph's `epochs`, or until `patience` runs out. Shuffles derive from
// (seed, epoch) and corruption seeds from (seed, step), so a model restored to an epoch boundary continues
// exactly as if never stopped.
void train(Model& model, const TrainOptions& options);
// Names how train() derives its random streams; checkpoints record it and --resume refuses another.
extern const char* const kRandomStreams;

}  // namespace hg
