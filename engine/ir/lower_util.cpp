// Argument checking, constant folding, plugin-term parameters and the train block (data bindings are in
// lower_data.cpp).
#include "ir/lower_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace hg {

// The largest seed a double holds exactly.
constexpr double kMaxSeed = 9007199254740992.0;

std::string fnv1a_hex(const std::string& text) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return out;
}

const char* term_kind_name(int32_t kind) {
  switch (kind) {
    case HG_TERM_LOSS:
      return "loss";
    case HG_TERM_REGULARIZER:
      return "regularizer";
    case HG_TERM_CORRUPTION:
      return "corruption";
  }
  return "unknown";
}

// "a parameter", "an activation or a target": the kinds in `mask`, for messages.
std::string input_kinds_text(uint32_t mask) {
  static const std::pair<uint32_t, const char*> kNames[] = {{HG_INPUT_ACTIVATION, "an activation"},
                                                            {HG_INPUT_PARAMETER, "a parameter"},
                                                            {HG_INPUT_TARGET, "a target (a data input)"},
                                                            {HG_INPUT_LABEL, "a label"}};
  std::vector<std::string> names;
  for (const auto& [kind, name] : kNames)
    if (mask & kind) names.push_back(name);
  std::string text;
  for (size_t i = 0; i < names.size(); ++i)
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return text;
}

std::optional<double> constant_value(const ast::Expr& e, DiagnosticSink& sink) {
  using K = ast::Expr::Kind;
  if (e.kind == K::Number) return e.number;
  if (e.kind == K::Negate) {
    auto v = constant_value(*e.lhs, sink);
    return v ? std::optional<double>(-*v) : std::nullopt;
  }
  if (e.kind == K::Binary) {
    auto a = constant_value(*e.lhs, sink);
    auto b = constant_value(*e.rhs, sink);
    if (!a || !b) return std::nullopt;
    switch (e.op) {
      case '+':
        return *a + *b;
      case '-':
        return *a - *b;
      case '*':
        return *a * *b;
      case '/':
        if (*b == 0) {
          sink.error(e.location, "division by zero");
          return std::nullopt;
        }
        return *a / *b;
    }
  }
  sink.error(e.location, "expected a number, found '" + ast::to_string(e) + "'");
  return std::nullopt;
}

static std::string number_text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

std::optional<int64_t> positive_integer(const ast::Expr& e, const std::string& what, DiagnosticSink& sink) {
  auto v = constant_value(e, sink);
  if (!v) return std::nullopt;
  if (*v != std::floor(*v) || *v < 1 || *v > 1e9) {
    sink.error(e.location, what + " must be a positive integer, got " + number_text(*v));
    return std::nullopt;
  }
  return int64_t(*v);
}

std::optional<int64_t> flag_value(const ast::Expr& e, const std::string& what, DiagnosticSink& sink) {
  auto v = constant_value(e, sink);
  if (!v) return std::nullopt;
  if (*v != 0 && *v != 1) {
    sink.error(e.location, what + " must be 0 or 1, got " + number_text(*v));
    return std::nullopt;
  }
  return int64_t(*v);
}

const ast::Arg* positional(const ast::Expr& call, size_t index) {
  for (const ast::Arg& arg : call.args)
    if (arg.keyword.empty() && index-- == 0) return &arg;
  return nullptr;
}

const ast::Arg* keyword(const ast::Expr& call, const std::string& name) {
  for (const ast::Arg& arg : call.args)
    if (arg.keyword == name) return &arg;
  return nullptr;
}

bool check_arguments(const ast::Expr& call, size_t max_positional, const std::vector<std::string>& keywords,
                     DiagnosticSink& sink) {
  bool ok = true;
  size_t count = 0;
  std::set<std::string> seen;
  for (const ast::Arg& arg : call.args) {
    if (arg.keyword.empty()) {
      if (++count == max_positional + 1) {
        sink.error(arg.location, "'" + call.text + "' takes at most " + std::to_string(max_positional) +
                                     " positional argument" + (max_positional == 1 ? "" : "s"));
        ok = false;
      }
    } else if (std::find(keywords.begin(), keywords.end(), arg.keyword) == keywords.end()) {
      sink.error(arg.location,
                 "unknown parameter '" + arg.keyword + "' of '" + call.text + "'" +
                     (keywords.empty() ? "; it takes none" : did_you_mean(arg.keyword, keywords)));
      ok = false;
    } else if (!seen.insert(arg.keyword).second) {
      sink.error(arg.location, "parameter '" + arg.keyword + "' is given twice");
      ok = false;
    }
  }
  return ok;
}

static std::optional<std::vector<double>> checked_term_parameters(const ast::Expr& call, const TermInfo& term,
                                                                  DiagnosticSink& sink);

// Errors in a term's arguments also name the plugin that defines the term, since that is where its
// parameters are documented.
std::optional<std::vector<double>> term_parameters(const ast::Expr& call, const TermInfo& term,
                                                   DiagnosticSink& sink) {
  const size_t first = sink.count();
  auto values = checked_term_parameters(call, term, sink);
  sink.note_since(first, SourceLocation{term.plugin_path},
                  "'" + term.full_name + "' is defined by this plugin (version " + term.plugin_version +
                      "); 'hourglass plugins' lists its parameters");
  return values;
}

static std::optional<std::vector<double>> checked_term_parameters(const ast::Expr& call, const TermInfo& term,
                                                                  DiagnosticSink& sink) {
  const hg_term& t = *term.term;
  std::vector<std::string> names;
  for (int32_t i = 0; i < t.num_params; ++i) names.push_back(t.params[i].name);
  if (!check_arguments(call, size_t(t.num_inputs), names, sink)) return std::nullopt;
  std::vector<double> values;
  bool ok = true;
  for (int32_t i = 0; i < t.num_params; ++i) {
    const hg_param_spec& spec = t.params[i];
    double v = spec.default_value;
    if (const ast::Arg* arg = keyword(call, spec.name)) {
      auto given = constant_value(*arg->value, sink);
      if (!given) {
        ok = false;
        continue;
      }
      v = *given;
      const std::string what = "parameter '" + std::string(spec.name) + "' of '" + term.full_name + "'";
      if (spec.type == HG_PARAM_INT && v != std::floor(v)) {
        sink.error(arg->value->location, what + " must be an integer, got " + number_text(v));
        ok = false;
      } else if (v < spec.min_value || v > spec.max_value) {
        sink.error(arg->value->location, what + " must be in [" + number_text(spec.min_value) + ", " +
                                             number_text(spec.max_value) + "], got " + number_text(v));
        ok = false;
      }
    }
    values.push_back(v);
  }
  return ok ? std::optional<std::vector<double>>(values) : std::nullopt;
}

// sgd(lr=, momentum=) or adam(lr=, beta1=, beta2=, eps=)
static void lower_optimizer(const ast::Expr& e, DiagnosticSink& sink, OptimizerSettings& o) {
  if (e.kind != ast::Expr::Kind::Call) {
    sink.error(e.location,
               "expected an optimizer such as sgd(lr=0.1, momentum=0.9) or adam(lr=0.001), found '" +
                   ast::to_string(e) + "'");
    return;
  }
  if (e.text != "sgd" && e.text != "adam") {
    sink.error(e.location, "unknown optimizer '" + e.text + "'" + did_you_mean(e.text, {"sgd", "adam"}) +
                               "; the optimizers are sgd(lr=..., momentum=...) and adam(lr=...)");
    return;
  }
  o.kind = e.text;
  o.location = e.location;
  const bool sgd = e.text == "sgd";
  if (!check_arguments(e, 0,
                       sgd ? std::vector<std::string>{"lr", "momentum"}
                           : std::vector<std::string>{"lr", "beta1", "beta2", "eps"},
                       sink))
    return;
  for (const ast::Arg& arg : e.args) {
    auto v = constant_value(*arg.value, sink);
    if (!v) continue;
    const bool unit = arg.keyword == "momentum" || arg.keyword == "beta1" || arg.keyword == "beta2";
    if ((arg.keyword == "lr" || arg.keyword == "eps") ? !(*v > 0) : !(*v >= 0 && *v < 1)) {
      sink.error(arg.value->location, "'" + arg.keyword + "' must be " + (unit ? "in [0, 1)" : "positive") +
                                          ", got " + number_text(*v));
      continue;
    }
    if (arg.keyword == "lr") o.learning_rate = *v;
    if (arg.keyword == "momentum") o.momentum = *v;
    if (arg.keyword == "beta1") o.beta1 = *v;
    if (arg.keyword == "beta2") o.beta2 = *v;
    if (arg.keyword == "eps") o.epsilon = *v;
  }
}

// constant, step(every=N, factor=F) or cosine(min=LR)
static void lower_schedule(const ast::Expr& e, DiagnosticSink& sink, ScheduleSettings& s) {
  const std::vector<std::string> kinds = {"constant", "step", "cosine"};
  const bool known = std::find(kinds.begin(), kinds.end(), e.text) != kinds.end();
  if ((e.kind != ast::Expr::Kind::Call && e.kind != ast::Expr::Kind::Name) || !known) {
    sink.error(e.location, "unknown schedule '" + ast::to_string(e) + "'" + did_you_mean(e.text, kinds) +
                               "; the schedules are constant, step(every=N, factor=F) and cosine(min=LR)");
    return;
  }
  s.kind = e.text;
  s.location = e.location;
  if (e.kind == ast::Expr::Kind::Name) return;
  const std::vector<std::string> keywords = s.kind == "step"     ? std::vector<std::string>{"every", "factor"}
                                            : s.kind == "cosine" ? std::vector<std::string>{"min"}
                                                                 : std::vector<std::string>{};
  check_arguments(e, 0, keywords, sink);  // reports stray arguments; the known ones are still checked
  for (const ast::Arg& arg : e.args) {
    if (std::find(keywords.begin(), keywords.end(), arg.keyword) == keywords.end()) continue;
    if (arg.keyword == "every") {
      if (auto v = positive_integer(*arg.value, "'every'", sink)) s.every = *v;
      continue;
    }
    auto v = constant_value(*arg.value, sink);
    if (!v) continue;
    if (arg.keyword == "factor" && !(*v > 0 && *v <= 1))
      sink.error(arg.value->location, "'factor' must be in (0, 1], got " + number_text(*v));
    else if (arg.keyword == "min" && !(*v >= 0))
      sink.error(arg.value->location, "'min' must be >= 0, got " + number_text(*v));
    else
      (arg.keyword == "factor" ? s.factor : s.min) = *v;
  }
}

// A cosine schedule falls from lr to min, so min must stay below lr (also after --set lr=).
static std::string schedule_problem(const TrainSettings& t) {
  if (t.schedule.kind == "cosine" && !(t.schedule.min < t.optimizer.learning_rate))
    return "the cosine schedule's min (" + number_text(t.schedule.min) +
           ") must be below the optimizer's lr (" + number_text(t.optimizer.learning_rate) + ")";
  return "";
}

// best(DATA, METRIC), both names; whether DATA and METRIC exist is checked once the graph is whole.
static void lower_select(const ast::Expr& e, DiagnosticSink& sink, TrainSettings& settings) {
  const std::string usage =
      "select takes best(DATA, METRIC), like best(valid, accuracy) or best(valid, loss)";
  if (e.kind != ast::Expr::Kind::Call || e.text != "best") {
    sink.error(e.location, usage + ", found '" + ast::to_string(e) + "'");
    return;
  }
  if (e.args.size() != 2 || !e.args[0].keyword.empty() || !e.args[1].keyword.empty()) {
    sink.error(e.location, usage + "; found " + std::to_string(e.args.size()) + " argument" +
                               (e.args.size() == 1 ? "" : "s"));
    return;
  }
  for (const ast::Arg& arg : e.args)
    if (arg.value->kind != ast::Expr::Kind::Name) {
      sink.error(arg.value->location,
                 "expected a name in best(DATA, METRIC), found '" + ast::to_string(*arg.value) + "'");
      return;
    }
  settings.select_data = e.args[0].value->text;
  settings.select_metric = e.args[1].value->text;
  settings.select_location = e.location;
}

void check_selection(const Graph& graph, DiagnosticSink& sink) {
  const TrainSettings& t = graph.train;
  if (t.patience > 0 && t.select_data.empty()) {
    sink.error(t.patience_location, "patience needs select = best(DATA, METRIC) to know what improves");
    return;
  }
  if (t.select_data.empty()) return;
  std::vector<std::string> names;
  for (const DataBinding& b : graph.data)
    if (b.name != "train") names.push_back(b.name);
  if (t.select_data == "train") {
    sink.error(t.select_location,
               "select scores the training data; select on held-out data, like "
               "`data valid = idx(...)` and best(valid, loss)");
    return;
  }
  if (!graph.binding(t.select_data)) {
    const std::string hint = did_you_mean(t.select_data, names);
    sink.error(t.select_location,
               "select scores data '" + t.select_data + "', which the graph does not define" +
                   (hint.empty() ? "; add `data " + t.select_data + " = idx(...)`" : hint));
    return;
  }
  std::vector<std::string> metrics = {"loss", "accuracy"};
  bool labelled = false;
  if (graph.objective != kNoNode)
    for (const std::string& key : term_keys(graph)) metrics.push_back(key);
  if (graph.objective != kNoNode)
    for (NodeId id : graph.node(graph.objective).inputs) {
      const Node& term = graph.node(id);
      if (term.is(OpRole::Term) && term.attributes_as<TermAttributes>().kind == HG_TERM_LOSS &&
          term.inputs.size() >= 2 && graph.node(term.inputs[1]).is(OpRole::Input) &&
          graph.node(term.inputs[1]).attributes_as<InputAttributes>().source == "label")
        labelled = true;
    }
  if (std::find(metrics.begin(), metrics.end(), t.select_metric) == metrics.end())
    sink.error(t.select_location, "unknown metric '" + t.select_metric + "'" +
                                      did_you_mean(t.select_metric, metrics) +
                                      "; select on loss, accuracy or a term of the loss");
  else if (t.select_metric == "accuracy" && !labelled)
    sink.error(t.select_location,
               "select on accuracy needs a loss that compares a prediction with a label input");
}

std::vector<std::string> term_keys(const Graph& graph) {
  std::vector<std::string> keys;
  if (graph.objective == kNoNode) return keys;
  const std::vector<NodeId>& terms = graph.node(graph.objective).inputs;
  std::map<std::string, int> uses;
  // A plugin term is known by its name, any other scalar value in the loss by its node's name.
  auto label = [&](NodeId id) {
    const Node& n = graph.node(id);
    return n.is(OpRole::Term) ? n.attributes_as<TermAttributes>().term : n.name;
  };
  for (NodeId id : terms) ++uses[label(id)];
  std::map<std::string, int> seen;
  for (NodeId id : terms) {
    const std::string name = label(id);
    keys.push_back(uses[name] == 1 ? name : name + "#" + std::to_string(++seen[name]));
  }
  return keys;
}

void lower_train(const ast::Statement& s, DiagnosticSink& sink, TrainSettings& settings) {
  settings.location = s.location;
  const std::vector<std::string> known = {"optimizer",  "schedule", "batch",    "epochs",    "seed",
                                          "test_every", "select",   "patience", "precision", "initializer"};
  std::set<std::string> seen;
  for (const ast::Arg& arg : s.settings) {
    if (!seen.insert(arg.keyword).second) {
      sink.error(arg.location, "setting '" + arg.keyword + "' is given twice");
    } else if (arg.keyword == "optimizer") {
      lower_optimizer(*arg.value, sink, settings.optimizer);
    } else if (arg.keyword == "schedule") {
      lower_schedule(*arg.value, sink, settings.schedule);
    } else if (arg.keyword == "batch" || arg.keyword == "epochs" || arg.keyword == "test_every") {
      int64_t& field = arg.keyword == "batch"    ? settings.batch
                       : arg.keyword == "epochs" ? settings.epochs
                                                 : settings.test_every;
      if (auto v = positive_integer(*arg.value, "'" + arg.keyword + "'", sink)) field = *v;
    } else if (arg.keyword == "select") {
      lower_select(*arg.value, sink, settings);
    } else if (arg.keyword == "precision") {
      const ast::Expr& e = *arg.value;
      if (e.kind != ast::Expr::Kind::Name || (e.text != "f32" && e.text != "bf16")) {
        sink.error(e.location, "'precision' is f32 or bf16, got " + ast::to_string(e));
      } else {
        settings.precision = e.text;
        settings.precision_location = e.location;
      }
    } else if (arg.keyword == "initializer") {
      const ast::Expr& e = *arg.value;
      if (e.kind != ast::Expr::Kind::Name || (e.text != "glorot" && e.text != "fan_in"))
        sink.error(e.location, "'initializer' is glorot or fan_in, got " + ast::to_string(e));
      else
        settings.initializer = e.text;
    } else if (arg.keyword == "patience") {
      settings.patience_location = arg.location;
      if (auto v = positive_integer(*arg.value, "'patience'", sink)) settings.patience = *v;
    } else if (arg.keyword == "seed") {
      if (auto v = constant_value(*arg.value, sink)) {
        // Seeds are read as doubles, which hold every whole number up to 2^53 exactly; a larger one would
        // silently become another seed (or, past 2^64, undefined behaviour), so it is refused.
        if (!(*v >= 0 && *v <= kMaxSeed) || *v != std::floor(*v))
          sink.error(
              arg.value->location,
              "'seed' must be a whole number from 0 to 2^53 (9007199254740992), got " + number_text(*v));
        else
          settings.seed = uint64_t(*v);
      }
    } else {
      sink.error(arg.location,
                 "unknown train setting '" + arg.keyword + "'" + did_you_mean(arg.keyword, known));
    }
  }
  const std::string problem = schedule_problem(settings);
  if (!problem.empty()) sink.error(settings.schedule.location, problem);
}

void apply_setting(TrainSettings& settings, const std::string& assignment) {
  const SourceLocation where{"--set " + assignment, 0, 0};
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos) throw Error(where, "expected key=value");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  const std::vector<std::string> keys = {"batch",    "epochs",     "seed",      "lr",
                                         "momentum", "test_every", "precision", "initializer"};
  if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
    const std::string hint = did_you_mean(key, keys);
    throw Error(where,
                "unknown setting '" + key + "'" +
                    (hint.empty() ? "; the settings are batch, epochs, seed, lr, momentum, "
                                    "test_every, precision, initializer, data.NAME.count and data.NAME.skip"
                                  : hint));
  }
  if (key == "precision") {
    if (text != "f32" && text != "bf16") throw Error(where, "precision is f32 or bf16, got '" + text + "'");
    settings.precision = text;
    settings.precision_location = where;
    return;
  }
  if (key == "initializer") {
    if (text != "glorot" && text != "fan_in")
      throw Error(where, "initializer is glorot or fan_in, got '" + text + "'");
    settings.initializer = text;
    return;
  }
  if (key == "momentum" && settings.optimizer.kind != "sgd")
    throw Error(where, "momentum applies to sgd, but the graph trains with " + settings.optimizer.kind);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v)) throw Error(where, "'" + text + "' is not a number");
  const bool whole = v == std::floor(v);
  if ((key == "batch" || key == "epochs" || key == "test_every") && (!whole || v < 1 || v > 1e9))
    throw Error(where, key + " must be a positive integer");
  if (key == "seed" && (!whole || v < 0 || v > kMaxSeed))
    throw Error(where, "seed must be a whole number from 0 to 2^53 (9007199254740992)");
  if (key == "lr" && !(v > 0)) throw Error(where, "lr must be positive");
  if (key == "momentum" && !(v >= 0 && v < 1)) throw Error(where, "momentum must be in [0, 1)");
  TrainSettings next = settings;  // checked whole before it replaces the settings
  if (key == "batch")
    next.batch = int64_t(v);
  else if (key == "epochs")
    next.epochs = int64_t(v);
  else if (key == "test_every")
    next.test_every = int64_t(v);
  else if (key == "seed")
    next.seed = uint64_t(v);
  else if (key == "lr")
    next.optimizer.learning_rate = v;
  else if (key == "momentum")
    next.optimizer.momentum = v;
  const std::string problem = schedule_problem(next);
  if (!problem.empty()) throw Error(where, problem);
  settings = next;
}

}  // namespace hg
