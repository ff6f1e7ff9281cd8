// Model loading, data binding and evaluation.
#include "runtime/model.h"

#include <fnmatch.h>

#include <cstdlib>

#include "autodiff/autodiff.h"
#include "ir/lower.h"
#include "ir/lower_util.h"
#include "plan/plan.h"
#include "runtime/executor.h"
#include "runtime/pipeline.h"

namespace hg {

static PluginRegistry load_plugins(const ModelOptions& options) {
  PluginRegistry registry;
  for (const std::string& dir : PluginRegistry::default_search_path(options.plugin_dirs))
    registry.load_folder(dir);
  return registry;
}

// `--freeze GLOB` works like the graph's `freeze "GLOB"`: before autodiff, so no gradient is computed.
static void freeze_parameters(Graph& graph, const std::string& glob) {
  std::vector<std::string> names;
  bool matched = false;
  for (NodeId p : graph.parameters) {
    Node& n = graph.nodes[p];
    names.push_back(n.name);
    names.push_back(n.name.substr(0, n.name.rfind('.') + 1) + "*");  // "code.*" for hints
    if (fnmatch(glob.c_str(), n.name.c_str(), 0) != 0) continue;
    n.trainable = false;
    n.lr_mult = 0;
    matched = true;
  }
  if (!matched)
    throw Error({"--freeze '" + glob + "'", 0, 0},
                "'" + glob + "' matches no parameter of " + graph.file + did_you_mean(glob, names) +
                    "; parameters are named like 'code.weights' and 'code.bias'");
}

static Graph load_trainable(const std::string& path, const ModelOptions& options,
                            const PluginRegistry& plugins) {
  Graph graph = load_graph(path, plugins);
  for (const std::string& s : options.settings) apply_setting(graph, s);
  apply_limit(graph, options.limit);
  for (const std::string& glob : options.freeze) freeze_parameters(graph, glob);
  append_backward(graph);
  return graph;
}

Model::Model(const std::string& graph_path, const ModelOptions& options)
    : plugins(load_plugins(options)), graph(load_trainable(graph_path, options, plugins)), parameters(graph) {
  parameters.initialize(graph.train.seed);
}

std::vector<NodeId> Model::terms() const {
  return graph.node(graph.objective).inputs;
}

// Loss terms whose second input is a one-hot label input: their first input is scored by argmax.
static std::vector<std::pair<NodeId, NodeId>> accuracy_pairs(const Graph& g) {
  std::vector<std::pair<NodeId, NodeId>> pairs;
  for (NodeId t : g.node(g.objective).inputs) {
    const Node& term = g.node(t);
    if (term.term->term->kind != HG_TERM_LOSS || term.inputs.size() < 2) continue;
    const Node& target = g.node(term.inputs[1]);
    if (target.op == OpKind::Input && target.source == "label")
      pairs.emplace_back(term.inputs[0], term.inputs[1]);
  }
  return pairs;
}

static int64_t count_correct(const Plan& plan, NodeId scores, NodeId labels, int64_t rows, int64_t width) {
  const float *s = plan.buffer(scores), *l = plan.buffer(labels);
  int64_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* sr = s + r * width;
    const float* lr = l + r * width;
    correct += std::max_element(sr, sr + width) - sr == std::max_element(lr, lr + width) - lr;
  }
  return correct;
}

EvalResult evaluate(Model& model, const Dataset& data, int64_t batch) {
  const Graph& g = model.graph;
  const auto pairs = accuracy_pairs(g);
  std::vector<NodeId> keep;
  for (auto [scores, labels] : pairs) keep.insert(keep.end(), {scores, labels});
  DataPipeline pipeline(g, data, batch, false, 0);
  std::unique_ptr<Plan> full, tail;
  if (pipeline.full_batches() > 0)
    full = std::make_unique<Plan>(g, model.parameters, batch, PlanMode::Eval, keep);
  if (pipeline.tail() > 0)
    tail = std::make_unique<Plan>(g, model.parameters, pipeline.tail(), PlanMode::Eval, keep);
  const std::vector<NodeId> terms = model.terms();
  EvalResult result;
  std::vector<double> sums(terms.size(), 0.0);
  int64_t correct = 0;
  pipeline.begin_epoch(0);
  for (int64_t b = 0; b * batch < data.count; ++b) {
    Plan& plan = b < pipeline.full_batches() ? *full : *tail;
    const int64_t rows = pipeline.take(b, plan);
    plan.run_serial();
    for (size_t t = 0; t < terms.size(); ++t) sums[t] += plan.value(terms[t]) * double(rows);
    for (auto [scores, labels] : pairs)
      correct += count_correct(plan, scores, labels, rows, g.node(labels).elements_per_sample());
    result.samples += rows;
  }
  const Node& objective = g.node(g.objective);
  for (size_t t = 0; t < terms.size(); ++t) {
    const double mean = result.samples ? sums[t] / double(result.samples) : 0;
    result.terms.emplace_back(g.node(terms[t]).term->full_name, mean);
    result.loss += objective.weights[t] * mean;
  }
  if (!pairs.empty() && result.samples)
    result.accuracy = double(correct) / double(result.samples * int64_t(pairs.size()));
  return result;
}

void for_each_activation(Model& model, const Dataset& data, NodeId node, int64_t batch,
                         const ActivationSink& sink) {
  const Graph& g = model.graph;
  DataPipeline pipeline(g, data, batch, false, 0);
  std::unique_ptr<Plan> full, tail;
  if (pipeline.full_batches() > 0)
    full = std::make_unique<Plan>(g, model.parameters, batch, PlanMode::Eval, std::vector{node});
  if (pipeline.tail() > 0)
    tail = std::make_unique<Plan>(g, model.parameters, pipeline.tail(), PlanMode::Eval, std::vector{node});
  pipeline.begin_epoch(0);
  for (int64_t b = 0; b * batch < data.count; ++b) {
    Plan& plan = b < pipeline.full_batches() ? *full : *tail;
    const int64_t rows = pipeline.take(b, plan);
    plan.run_serial();
    sink(plan.buffer(node), b * batch, rows);
  }
}

}  // namespace hg
