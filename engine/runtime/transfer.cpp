// Name mapping for weight transfer, and applying a plan to a model.
#include "runtime/transfer.h"

#include <algorithm>
#include <map>
#include <optional>

#include "runtime/checkpoint.h"

namespace hg {

namespace {

SourceLocation rule_location(const MapRule& rule) {
  return {"--map '" + rule.text + "'", 0, 0};
}

// The text `*` stands for when `glob` (at most one `*`) matches `name`.
std::optional<std::string> capture(const std::string& glob, const std::string& name) {
  const size_t star = glob.find('*');
  if (star == std::string::npos) return glob == name ? std::optional<std::string>("") : std::nullopt;
  const std::string prefix = glob.substr(0, star), suffix = glob.substr(star + 1);
  if (name.size() < prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  return name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
}

std::string fill(const std::string& glob, const std::string& captured) {
  const size_t star = glob.find('*');
  return star == std::string::npos ? glob : glob.substr(0, star) + captured + glob.substr(star + 1);
}

// "code.weights, code.bias, ... and 3 more" for a note listing what the checkpoint holds.
std::string name_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 8; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 8) out += ", and " + std::to_string(names.size() - 8) + " more";
  return out;
}

Error with_note(const SourceLocation& where, const std::string& message, const SourceLocation& note_where,
                const std::string& note) {
  return Error({Diagnostic{Severity::Error, where, message, {{Severity::Note, note_where, note, {}}}}});
}

// For a glob that matched nothing: the stored names, and for `*` globs their "layer.*" forms too.
std::vector<std::string> similar_globs(const std::string& glob, const std::vector<std::string>& names) {
  std::vector<std::string> candidates = names;
  if (glob.find('*') != std::string::npos)
    for (const std::string& name : names) {
      const std::string layer = name.substr(0, name.rfind('.') + 1) + "*";
      if (std::find(candidates.begin(), candidates.end(), layer) == candidates.end())
        candidates.push_back(layer);
    }
  return candidates;
}

struct Candidate {
  std::string source, target;
  const MapRule* rule;  // null for same-name loads
};

}  // namespace

MapRule parse_map_rule(const std::string& text) {
  MapRule rule{text, "", ""};
  const SourceLocation where = rule_location(rule);
  const size_t arrow = text.find("->");
  if (arrow == std::string::npos || text.find("->", arrow + 2) != std::string::npos)
    throw Error(where, "a map rule is 'source->target', for example 'enc1.*->fc1.*'");
  rule.source = text.substr(0, arrow);
  rule.target = text.substr(arrow + 2);
  if (rule.source.empty() || rule.target.empty())
    throw Error(where, "both sides of a map rule need a name or a glob, for example 'enc1.*->fc1.*'");
  const auto stars = [](const std::string& s) { return std::count(s.begin(), s.end(), '*'); };
  if (stars(rule.source) > 1 || stars(rule.target) > 1)
    throw Error(where, "each side of a map rule may have one '*'");
  if (stars(rule.source) != stars(rule.target))
    throw Error(where,
                "'" + rule.source + "' and '" + rule.target +
                    "' need a '*' on both sides or on neither: the source's '*' text fills the target's");
  return rule;
}

// Which stored tensor goes where, before checking targets and shapes: by the rules, or by equal names.
static std::vector<Candidate> match(const std::string& checkpoint_path,
                                    const std::vector<std::string>& stored_names,
                                    const std::vector<std::string>& parameter_names,
                                    const std::vector<MapRule>& rules) {
  std::vector<Candidate> candidates;
  for (const MapRule& rule : rules) {
    size_t matched = 0;
    for (const std::string& name : stored_names)
      if (auto text = capture(rule.source, name)) {
        candidates.push_back({name, fill(rule.target, *text), &rule});
        ++matched;
      }
    if (matched == 0)
      throw with_note(rule_location(rule),
                      "'" + rule.source + "' matches no tensor in " + checkpoint_path +
                          did_you_mean(rule.source, similar_globs(rule.source, stored_names)),
                      {checkpoint_path, 0, 0}, "it holds " + name_list(stored_names));
  }
  if (rules.empty())
    for (const std::string& name : stored_names)
      if (std::find(parameter_names.begin(), parameter_names.end(), name) != parameter_names.end())
        candidates.push_back({name, name, nullptr});
  if (candidates.empty())
    throw with_note(
        {checkpoint_path, 0, 0},
        "no tensor has the name of a parameter of the graph; map names with --map 'source.*->target.*'",
        {checkpoint_path, 0, 0}, "it holds " + name_list(stored_names));
  return candidates;
}

TransferPlan plan_transfer(const std::string& checkpoint_path, const std::vector<NamedShape>& stored,
                           const std::vector<NamedShape>& parameters, const std::vector<MapRule>& rules) {
  std::map<std::string, const NamedShape*> by_name, graph;
  std::vector<std::string> stored_names, parameter_names;
  for (const NamedShape& t : stored)
    if (!is_optimizer_tensor(t.name)) {
      by_name[t.name] = &t;
      stored_names.push_back(t.name);
    }
  for (const NamedShape& p : parameters) {
    graph[p.name] = &p;
    parameter_names.push_back(p.name);
  }
  const std::vector<Candidate> candidates = match(checkpoint_path, stored_names, parameter_names, rules);
  std::map<std::string, const Candidate*> loaded;
  for (const Candidate& c : candidates) {
    const SourceLocation where = c.rule ? rule_location(*c.rule) : SourceLocation{checkpoint_path, 0, 0};
    auto target = graph.find(c.target);
    if (target == graph.end())
      throw Error(where, "'" + c.source + "' would load into '" + c.target +
                             "', which the graph does not have" + did_you_mean(c.target, parameter_names));
    const std::vector<int64_t>& from = by_name.at(c.source)->shape;
    const std::vector<int64_t>& to = target->second->shape;
    if (from != to)
      throw Error(where, c.source + " " + shape_string(from) + " -> " + c.target + " " + shape_string(to) +
                             ": the shapes differ");
    auto [previous, fresh] = loaded.emplace(c.target, &c);
    if (!fresh && previous->second->source != c.source) {
      const Candidate& first = *previous->second;
      const SourceLocation first_where =
          first.rule ? rule_location(*first.rule) : SourceLocation{checkpoint_path, 0, 0};
      throw with_note(where, "'" + first.source + "' and '" + c.source + "' both map to '" + c.target + "'",
                      first_where, "'" + first.source + "' maps there by this rule");
    }
  }
  TransferPlan plan;
  for (const NamedShape& p : parameters) {
    auto it = loaded.find(p.name);
    if (it == loaded.end())
      plan.untouched.push_back(p.name);
    else
      plan.loads.push_back({it->second->source, p.name, p.shape});
  }
  return plan;
}

TransferPlan initialize_from(const std::string& checkpoint_path, Model& model,
                             const std::vector<MapRule>& rules) {
  const CheckpointFile file(checkpoint_path);
  std::vector<NamedShape> stored, parameters;
  for (const StoredTensor& t : file.tensors()) stored.push_back({t.name, t.shape});
  for (const ParameterSlot& s : model.parameters.slots()) parameters.push_back({s.name, s.dims});
  TransferPlan plan = plan_transfer(checkpoint_path, stored, parameters, rules);
  if (std::optional<std::string> note = file.verify_checksum()) plan.notes.push_back(*note);
  // weights learnt on standardized features keep those features' statistics
  if (!file.metadata("data_transform").empty())
    restore_transform(model.graph, file.metadata("data_transform"), checkpoint_path);
  for (const TransferPlan::Load& load : plan.loads) {
    const ParameterSlot* slot = model.parameters.slot(load.target);
    file.read(load.source, load.shape, model.parameters.values() + slot->offset, "");
  }
  model.parameters.values_changed();
  return plan;
}

}  // namespace hg
