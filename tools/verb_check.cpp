// `hourglass check GRAPH`: parse, lower and differentiate, open every data source (counts, shapes, classes,
// slices, and whether the inputs fit), then list what was built and what training it would hold in memory.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "plan/plan.h"
#include "runtime/pipeline.h"
#include "support/memory_budget.h"

namespace hg::tools {

// "dense(500, tied) (x)": what the op says of itself, then the values it reads (parameters left out).
static std::string node_summary(const Graph& g, const Node& n) {
  std::string inputs;
  for (NodeId i : n.inputs) {
    const Node& in = g.node(i);
    if (!in.is(OpRole::Parameter)) inputs += (inputs.empty() ? "" : ", ") + in.name;
  }
  const std::string what = n.op->describe(g, n);
  return what + (inputs.empty() ? "" : " (" + inputs + ")");
}

// Opens every data binding (its files, slice and steps) and checks the graph's inputs against it, so a wrong
// path or shape fails here rather than after a model is built for training. One summary line per binding.
// The data sets stay loaded, as training holds them, so that the memory budget sees them together.
static std::vector<std::string> open_data(const Graph& g, const std::string& dir, int64_t limit,
                                          std::vector<Dataset>& loaded) {
  std::vector<std::string> lines;
  for (const DataBinding& b : g.data) {
    loaded.push_back(load_data(g, b.name, dir, limit));
    const Dataset& d = loaded.back();
    // Throws at the input statement that does not fit; the training data is checked as training reads it,
    // shuffled in whole batches, so a batch larger than the data is caught here too.
    DataPipeline check(g, d, g.train.batch, b.name == "train", 0);
    std::string line = "  " + b.name + " = " + b.describe() + "\n      " + std::to_string(d.count) +
                       " samples of " + shape_string(d.item_dims) + " " + dtype_name(d.dtype);
    if (d.scale != 1) line += " (x " + std::to_string(d.scale) + ")";
    if (!d.labels.empty()) {
      std::vector<int64_t> per_class(size_t(d.num_classes), 0);
      for (int32_t l : d.labels) ++per_class[size_t(l)];
      line += ", " + std::to_string(d.num_classes) + " classes:";
      for (int32_t c = 0; c < d.num_classes; ++c)
        line += " " + (size_t(c) < d.class_names.size() ? d.class_names[size_t(c)] + "=" : "") +
                std::to_string(c) + " (" + std::to_string(per_class[size_t(c)]) + ")";
    }
    if (b.transform())
      line += std::string(", ") +
              (b.transform()->kind == DataStep::Kind::Standardize ? "standardized" : "min-max scaled") +
              " with the training data's statistics";
    lines.push_back(line + "\n");
  }
  return lines;
}

// What training this graph holds in memory, estimated without allocating it and reserved in the memory
// budget as training reserves it (so a graph that training would refuse fails here, with the same error):
// the parameters with their gradients and optimizer state, the training plan's arena, the data sets, and
// the largest pair of evaluation plans. One line per part, for the report.
struct MemoryEstimate {
  std::vector<std::pair<std::string, double>> parts;
  std::vector<MemoryCharge> charges;
  void add(const std::string& what, MemoryCharge charge) {
    parts.emplace_back(what, double(charge.bytes()));
    charges.push_back(std::move(charge));
  }
};

static std::string memory_lines(const MemoryEstimate& estimate) {
  const MemoryBudget budget = memory_budget();
  std::string out =
      "\nmemory (estimated, nothing allocated; " +
      (budget.total ? "budget " + memory_size_text(budget.bytes) + ", " + budget.source
                    : memory_size_text(budget.bytes) + " available, --max-memory SIZE sets a budget") +
      "):\n";
  double total = 0;
  char line[160];
  for (const auto& [what, bytes] : estimate.parts) {
    std::snprintf(line, sizeof line, "  %-44s %12s\n", what.c_str(), memory_size_text(bytes).c_str());
    out += line;
    total += bytes;
  }
  std::snprintf(line, sizeof line, "  %-44s %12s\n", "total", memory_size_text(total).c_str());
  return out + line;
}

int verb_check(const std::vector<std::string>& args) {
  CommonOptions common;
  po::options_description options("check options");
  add_common_options(options, common);
  std::string path;
  if (!parse_verb("check", "GRAPH [options]", options, args, path)) return 0;
  if (std::filesystem::path(path).extension() == ".pipeline")
    throw Error({path, 0, 0}, "is a pipeline file; `hourglass run " + path +
                                  " --dry-run` checks it and says which stages would run");
  ModelOptions settings = model_options(common);
  settings.allocate_parameters = false;  // estimated and reserved below instead
  Model model(path, settings);
  const Graph& g = model.graph;
  MemoryEstimate memory;
  const TrainSettings& t = g.train;
  // In the order training allocates: the model, the data sets, the training plan, evaluation plans.
  memory.add("parameters, gradients, " + std::string(t.precision == "bf16" ? "bf16 copies, " : "") +
                 t.optimizer.kind + " state",
             reserve_parameters(g));
  std::vector<Dataset> loaded;
  const std::vector<std::string> data_lines = open_data(g, data_dir(common), common.limit, loaded);
  for (size_t i = 0; i < loaded.size(); ++i)
    memory.parts.emplace_back("data " + g.data[i].name,
                              loaded[i].memory ? double(loaded[i].memory->bytes()) : 0);
  if (g.has_backward()) {  // with every parameter frozen there is no training plan
    const ArenaSize train_arena = Plan::arena_size(g, t.batch, PlanMode::Train);
    memory.add("training plan, batch " + std::to_string(t.batch),
               Plan::reserve_arena(g, train_arena, t.batch, PlanMode::Train));
  }
  // Held-out sets are evaluated one at a time: the largest pair of plans counts.
  std::vector<EvaluationArena> evaluation;
  std::string evaluated;
  int64_t most = -1;
  for (size_t i = 0; i < loaded.size(); ++i) {
    if (g.data[i].name == "train") continue;
    std::vector<EvaluationArena> arenas = evaluation_arenas(g, loaded[i].count, t.batch);
    int64_t floats = 0;
    for (const EvaluationArena& a : arenas) floats += a.size.floats;
    if (floats > most) {
      most = floats;
      evaluation = std::move(arenas);
      evaluated = g.data[i].name;
    }
  }
  for (const EvaluationArena& a : evaluation)
    memory.add("evaluation plan, batch " + std::to_string(a.batch) + " (" + evaluated + ")",
               Plan::reserve_arena(g, a.size, a.batch, PlanMode::Eval));
  std::printf("%s: ok\n\nnodes:\n", path.c_str());
  for (const Node& n : g.nodes) {
    if (n.forward != kNoNode || n.is(OpRole::Parameter) || n.is(OpRole::OptimizerStep)) continue;
    std::printf("  %-28s %-40s %s  (line %d)\n", n.name.c_str(), node_summary(g, n).c_str(),
                shape_string(n.dims, n.batched).c_str(), n.location.line);
  }
  std::printf("\nparameters:\n");
  int64_t total = 0;
  for (NodeId p : g.parameters) {  // from the graph: check allocates no parameter
    const Node& n = g.node(p);
    const auto& a = n.attributes_as<ParameterAttributes>();
    std::printf("  %-28s %-16s %10lld%s\n", n.name.c_str(), shape_string(n.dims).c_str(),
                (long long)n.elements_per_sample(),
                !a.trainable || a.buffer ? "  frozen"
                : a.lr_mult != 1         ? ("  lr x" + std::to_string(a.lr_mult)).c_str()
                                         : "");
    total += n.elements_per_sample();
  }
  std::printf("  %-28s %-16s %10lld\n", "total", "", (long long)total);
  std::printf("\nterms:\n");
  const Node& objective = g.node(g.objective);
  const std::vector<double>& weights = objective.attributes_as<ObjectiveAttributes>().weights;
  for (size_t i = 0; i < objective.inputs.size(); ++i) {
    const Node& input = g.node(objective.inputs[i]);
    const TermRef* t =
        input.is(OpRole::Term) ? model.plugins.find(input.attributes_as<TermAttributes>().term) : nullptr;
    if (!t) {
      std::printf("  %-28s weight %-10g value %s\n", input.name.c_str(), weights[i],
                  shape_string(input.dims, input.batched).c_str());
      continue;
    }
    std::printf("  %-28s weight %-10g %s %s (%s)\n", t->full_name.c_str(), weights[i],
                t->term->kind == HG_TERM_LOSS ? "loss" : "regularizer", t->plugin_version.c_str(),
                t->plugin_path.c_str());
  }
  for (const Node& n : g.nodes)
    if (n.is(OpRole::Corrupt))
      if (const TermRef* t = model.plugins.find(n.attributes_as<TermAttributes>().term))
        std::printf("  %-28s corruption %s (%s)\n", t->full_name.c_str(), t->plugin_version.c_str(),
                    t->plugin_path.c_str());
  std::printf("\ndata:\n");
  for (const std::string& line : data_lines) std::printf("%s", line.c_str());
  char momentum[40] = "";
  if (t.optimizer.kind == "sgd")
    std::snprintf(momentum, sizeof momentum, ", momentum=%g", t.optimizer.momentum);
  std::printf(
      "\ntrain: %s(lr=%g%s), schedule %s, batch %lld, epochs %lld, seed %llu%s%s; %zu backward nodes\n",
      t.optimizer.kind.c_str(), t.optimizer.learning_rate, momentum, describe(t.schedule).c_str(),
      (long long)t.batch, (long long)t.epochs, (unsigned long long)t.seed,
      t.precision == "f32" ? "" : (", precision " + t.precision).c_str(),
      t.initializer == "glorot" ? "" : ", initializer fan_in",
      size_t(
          std::count_if(g.nodes.begin(), g.nodes.end(), [](const Node& n) { return n.forward != kNoNode; })));
  std::printf("%s", memory_lines(memory).c_str());
  return 0;
}

}  // namespace hg::tools
