// Model loading, data binding and evaluation.
#include "runtime/model.h"

#include <fnmatch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "autodiff/autodiff.h"
#include "ir/lower.h"
#include "ir/lower_util.h"
#include "ops/ops.h"
#include "plan/plan.h"
#include "runtime/distributed.h"
#include "runtime/executor.h"
#include "runtime/pipeline.h"

namespace hg {

static PluginRegistry load_plugins(const ModelOptions& options) {
  PluginRegistry registry;
  for (const std::string& dir : PluginRegistry::default_search_path(options.plugin_dirs))
    registry.load_folder(dir);
  if (options.on_plugin_errors && !registry.load_errors().empty())
    options.on_plugin_errors(registry.load_errors());
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
    auto& parameter = n.attributes_as<ParameterAttributes>();
    parameter.trainable = false;
    parameter.lr_mult = 0;
    matched = true;
  }
  if (!matched)
    throw Error({"--freeze '" + glob + "'", 0, 0},
                "'" + glob + "' matches no parameter of " + graph.file + did_you_mean(glob, names) +
                    "; parameters are named like 'code.weights' and 'code.bias'");
}

static Graph load_trainable(const std::string& path, const ModelOptions& options,
                            const PluginRegistry& plugins) {
  Graph graph = load_graph(path, builtin_ops(), PluginTerms(plugins));
  for (const std::string& s : options.settings) apply_setting(graph, s);
  apply_limit(graph, options.limit);
  for (const std::string& glob : options.freeze) freeze_parameters(graph, glob);
  append_backward(graph);
  return graph;
}

// The parameters, their gradients and the optimizer's state are allocated whole when a model is built, so a
// graph whose parameters do not fit the memory budget is refused up front, at its largest parameter, with
// the estimate, instead of failing in the allocator.
MemoryCharge reserve_parameters(const Graph& graph) {
  double floats = 0;
  NodeId largest = kNoNode;
  for (NodeId p : graph.parameters) {
    const double count = double(graph.node(p).elements_per_sample());
    floats += count;
    if (largest == kNoNode || count > double(graph.node(largest).elements_per_sample())) largest = p;
  }
  if (largest == kNoNode) return {};
  const int states = optimizer_states(graph.train.optimizer);
  // `precision = bf16` adds a 2-byte copy of every value for the GEMMs (ParameterStore::bf16_values).
  const bool bf16 = graph.train.precision == "bf16";
  const double bytes = floats * (sizeof(float) * (2 + states) + (bf16 ? sizeof(uint16_t) : 0));
  const Node& n = graph.node(largest);
  char detail[200];
  std::snprintf(detail, sizeof detail, "the largest, '%s' %s, holds %.0f values", n.name.c_str(),
                shape_string(n.dims).c_str(), double(n.elements_per_sample()));
  return reserve_memory(bytes, n.location,
                        "the parameters with their gradients" + std::string(bf16 ? ", bf16 copies" : "") +
                            " and " + graph.train.optimizer.kind + "'s " +
                            (states == 1 ? "state" : std::to_string(states) + " states") + " need",
                        detail);
}

static MemoryCharge reserve_parameters(const Graph& graph, const ModelOptions& options) {
  return options.allocate_parameters ? reserve_parameters(graph) : MemoryCharge();
}

Model::Model(const std::string& graph_path, const ModelOptions& options)
    : plugins(load_plugins(options)),
      graph(load_trainable(graph_path, options, plugins)),
      parameter_memory(reserve_parameters(graph, options)),
      parameters(options.allocate_parameters ? ParameterStore(graph) : ParameterStore()) {
  parameters.initialize(graph.train.seed, graph.train.initializer == "fan_in");
}

std::vector<NodeId> Model::terms() const {
  return graph.node(graph.objective).inputs;
}

std::string term_label(const Graph& graph, NodeId term) {
  const Node& n = graph.node(term);
  return n.is(OpRole::Term) ? n.attributes_as<TermAttributes>().term : n.name;
}

NodeId image_input(const Graph& g) {
  for (NodeId id = 0; id < NodeId(g.nodes.size()); ++id)
    if (g.node(id).is(OpRole::Input) && g.node(id).attributes_as<InputAttributes>().source == "image")
      return id;
  throw Error({g.file, 0, 0}, "the graph has no image input");
}

NodeId reconstruction(const Graph& g) {
  const NodeId input = image_input(g);
  for (NodeId t : g.node(g.objective).inputs)
    if (g.node(t).inputs.size() == 2 && g.node(t).inputs[1] == input) return g.node(t).inputs[0];
  return kNoNode;
}

NodeId activation_node(const Graph& g, const std::string& name, const std::string& where) {
  const SourceLocation place{where, 0, 0};
  std::vector<std::string> names;
  for (const Node& n : g.nodes)
    if (n.forward == kNoNode && n.batched) names.push_back(n.name);
  const NodeId id = g.find(name);
  if (id == kNoNode) throw Error(place, g.file + " has no node '" + name + "'" + did_you_mean(name, names));
  const Node& n = g.node(id);
  if (n.is(OpRole::Parameter))
    throw Error(place, "'" + name +
                           "' is a parameter, not an activation: give a node with values per sample, such "
                           "as '" +
                           name.substr(0, name.rfind('.')) + "'");
  if (!n.batched)
    throw Error(place, "'" + name + "' is a scalar loss, not an activation with values per sample");
  return id;
}

// Loss terms whose second input is a one-hot label input: their first input is scored by argmax.
static std::vector<std::pair<NodeId, NodeId>> accuracy_pairs(const Graph& g) {
  std::vector<std::pair<NodeId, NodeId>> pairs;
  for (NodeId t : g.node(g.objective).inputs) {
    const Node& term = g.node(t);
    if (!term.is(OpRole::Term) || term.attributes_as<TermAttributes>().kind != HG_TERM_LOSS ||
        term.inputs.size() < 2)
      continue;
    const Node& target = g.node(term.inputs[1]);
    if (target.is(OpRole::Input) && target.attributes_as<InputAttributes>().source == "label")
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

static std::vector<NodeId> evaluation_keep(const Graph& g) {
  std::vector<NodeId> keep;
  for (auto [scores, labels] : accuracy_pairs(g)) keep.insert(keep.end(), {scores, labels});
  return keep;
}

std::vector<EvaluationArena> evaluation_arenas(const Graph& graph, int64_t count, int64_t batch) {
  std::vector<EvaluationArena> arenas;
  const std::vector<NodeId> keep = evaluation_keep(graph);
  if (count >= batch) arenas.push_back({batch, Plan::arena_size(graph, batch, PlanMode::Eval, keep)});
  if (count % batch > 0)
    arenas.push_back({count % batch, Plan::arena_size(graph, count % batch, PlanMode::Eval, keep)});
  return arenas;
}

EvalResult evaluate(Model& model, const Dataset& data, int64_t batch, bool sample, ProcessGroup* group) {
  const int ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
  const PlanMode mode = sample ? PlanMode::Sampled : PlanMode::Eval;
  const Graph& g = model.graph;
  const auto pairs = accuracy_pairs(g);
  const std::vector<NodeId> keep = evaluation_keep(g);
  DataPipeline pipeline(g, data, batch, false, 0);
  std::unique_ptr<Plan> full, tail;
  if (pipeline.full_batches() > 0)
    full = std::make_unique<Plan>(g, model.parameters, model.plugins, batch, mode, keep);
  if (pipeline.tail() > 0)
    tail = std::make_unique<Plan>(g, model.parameters, model.plugins, pipeline.tail(), mode, keep);
  const std::vector<NodeId> terms = model.terms();
  EvalResult result;
  std::vector<double> sums(terms.size(), 0.0);
  int64_t correct = 0;
  pipeline.begin_epoch(0);
  for (int64_t b = rank; b * batch < data.count; b += ranks) {
    Plan& plan = b < pipeline.full_batches() ? *full : *tail;
    const int64_t rows = pipeline.take(b, plan);
    if (sample) plan.set_step_seed(g.train.seed * 0x9E3779B97F4A7C15ull ^ uint64_t(b));
    plan.run_serial();
    for (size_t t = 0; t < terms.size(); ++t) sums[t] += plan.value(terms[t]) * double(rows);
    for (auto [scores, labels] : pairs)
      correct += count_correct(plan, scores, labels, rows, g.node(labels).elements_per_sample());
    result.samples += rows;
  }
  if (ranks > 1) {
    std::vector<double> totals = sums;
    totals.insert(totals.end(), {double(correct), double(result.samples)});
    group->sum(totals.data(), int64_t(totals.size()),
               "evaluating " + std::to_string(data.count) + " samples");
    correct = int64_t(totals[sums.size()]);
    result.samples = int64_t(totals[sums.size() + 1]);
    totals.resize(sums.size());
    sums = totals;
  }
  const Node& objective = g.node(g.objective);
  const std::vector<std::string> keys = term_keys(g);
  for (size_t t = 0; t < terms.size(); ++t) {
    const double mean = result.samples ? sums[t] / double(result.samples) : 0;
    result.terms.emplace_back(keys[t], mean);
    const double weight = objective.attributes_as<ObjectiveAttributes>().weights[t];
    result.weights.push_back(weight);
    result.loss += weight * mean;
  }
  if (!pairs.empty() && result.samples)
    result.accuracy = double(correct) / double(result.samples * int64_t(pairs.size()));
  return result;
}

const EvalResult* EpochReport::eval(const std::string& data) const {
  for (const NamedEval& e : evals)
    if (e.data == data) return &e.result;
  return nullptr;
}

std::optional<double> metric_value(const EvalResult& result, const std::string& metric) {
  if (metric == "loss") return result.loss;
  if (metric == "accuracy") return result.accuracy;
  for (const auto& [key, value] : result.terms)
    if (key == metric) return value;
  return std::nullopt;
}

bool metric_maximized(const std::string& metric) {
  return metric == "accuracy";
}

// Doubles go through JSON as their shortest round-trip text (nlohmann), so a resumed run compares against
// exactly the value the interrupted one kept; a NaN is stored as null and read back as NaN.
static nlohmann::json eval_json(const EvalResult& r) {
  nlohmann::json terms = nlohmann::json::array();
  for (size_t t = 0; t < r.terms.size(); ++t)
    terms.push_back({r.terms[t].first, r.terms[t].second, t < r.weights.size() ? r.weights[t] : 1.0});
  nlohmann::json j = {{"samples", r.samples}, {"loss", r.loss}, {"terms", terms}};
  if (r.accuracy) j["accuracy"] = *r.accuracy;
  return j;
}

static double number(const nlohmann::json& j) {
  return j.is_null() ? std::nan("") : j.get<double>();
}

static EvalResult eval_from_json(const nlohmann::json& j) {
  EvalResult r;
  r.samples = j.at("samples").get<int64_t>();
  r.loss = number(j.at("loss"));
  for (const auto& t : j.at("terms")) {
    r.terms.emplace_back(t.at(0).get<std::string>(), number(t.at(1)));
    r.weights.push_back(number(t.at(2)));
  }
  if (j.contains("accuracy")) r.accuracy = number(j.at("accuracy"));
  return r;
}

std::string Selection::to_json() const {
  nlohmann::json evals = nlohmann::json::object();
  for (const NamedEval& e : best_evals) evals[e.data] = eval_json(e.result);
  nlohmann::json order = nlohmann::json::array();
  for (const NamedEval& e : best_evals) order.push_back(e.data);
  return nlohmann::json{{"best_epoch", best_epoch},
                        {"best_value", best_value},
                        {"stopped", stopped},
                        {"order", order},
                        {"evals", evals}}
      .dump();
}

Selection Selection::from_json(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    Selection s;
    s.best_epoch = j.at("best_epoch").get<int64_t>();
    s.best_value = number(j.at("best_value"));
    s.stopped = j.at("stopped").get<bool>();
    for (const auto& name : j.at("order")) {
      const std::string data = name.get<std::string>();
      s.best_evals.push_back({data, eval_from_json(j.at("evals").at(data))});
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error({"selection", 0, 0}, std::string("malformed selection state: ") + e.what());
  }
}

void for_each_activation(Model& model, const Dataset& data, NodeId node, int64_t batch,
                         const ActivationSink& sink) {
  const Graph& g = model.graph;
  DataPipeline pipeline(g, data, batch, false, 0);
  std::unique_ptr<Plan> full, tail;
  if (pipeline.full_batches() > 0)
    full =
        std::make_unique<Plan>(g, model.parameters, model.plugins, batch, PlanMode::Eval, std::vector{node});
  if (pipeline.tail() > 0)
    tail = std::make_unique<Plan>(g, model.parameters, model.plugins, pipeline.tail(), PlanMode::Eval,
                                  std::vector{node});
  pipeline.begin_epoch(0);
  for (int64_t b = 0; b * batch < data.count; ++b) {
    Plan& plan = b < pipeline.full_batches() ? *full : *tail;
    const int64_t rows = pipeline.take(b, plan);
    plan.run_serial();
    sink(plan.buffer(node), b * batch, rows);
  }
}

}  // namespace hg
