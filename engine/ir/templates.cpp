// def templates and parameter rules.
#include "ir/templates.h"

#include <fnmatch.h>

#include <algorithm>

#include "ir/lower_util.h"

namespace hg {

ast::ExprPtr substitute(const ast::Expr& body, const std::map<std::string, const ast::Expr*>& arguments) {
  if (body.kind == ast::Expr::Kind::Name) {
    if (auto it = arguments.find(body.text); it != arguments.end()) return substitute(*it->second, {});
  }
  auto copy = std::make_unique<ast::Expr>();
  copy->kind = body.kind;
  copy->location = body.location;
  copy->number = body.number;
  copy->text = body.text;
  copy->op = body.op;
  for (const ast::Arg& arg : body.args)
    copy->args.push_back({arg.keyword, arg.location, substitute(*arg.value, arguments)});
  if (body.lhs) copy->lhs = substitute(*body.lhs, arguments);
  if (body.rhs) copy->rhs = substitute(*body.rhs, arguments);
  return copy;
}

static std::string parameter_list(const ast::Statement& def) {
  std::string out;
  for (size_t i = 0; i < def.params.size(); ++i) out += (i ? ", " : "") + def.params[i];
  return out;
}

bool bind_template_arguments(const ast::Statement& def, const ast::Expr& call, DiagnosticSink& sink,
                             std::map<std::string, const ast::Expr*>& arguments) {
  size_t position = 0;
  bool ok = true;
  for (const ast::Arg& arg : call.args) {
    std::string name = arg.keyword;
    if (name.empty()) {
      if (position >= def.params.size()) {
        sink.error(arg.location, "template '" + def.name + "' takes " + std::to_string(def.params.size()) +
                                     " argument" + (def.params.size() == 1 ? "" : "s") + " (" +
                                     parameter_list(def) + ")")
            .notes.push_back({Severity::Note, def.name_location, "'" + def.name + "' is defined here", {}});
        return false;
      }
      name = def.params[position++];
    } else if (std::find(def.params.begin(), def.params.end(), name) == def.params.end()) {
      sink.error(arg.location, "template '" + def.name + "' has no parameter '" + name + "'" +
                                   did_you_mean(name, def.params));
      ok = false;
      continue;
    }
    if (!arguments.emplace(name, arg.value.get()).second) {
      sink.error(arg.location, "parameter '" + name + "' of template '" + def.name + "' is given twice");
      ok = false;
    }
  }
  for (const std::string& p : def.params)
    if (ok && !arguments.count(p)) {
      sink.error(call.location,
                 "template '" + def.name + "' needs '" + p + "' (it takes " + parameter_list(def) + ")")
          .notes.push_back({Severity::Note, def.name_location, "'" + def.name + "' is defined here", {}});
      ok = false;
    }
  return ok;
}

void apply_parameter_rules(const ast::Program& program, Graph& graph, DiagnosticSink& sink) {
  std::vector<std::string> names;
  for (NodeId p : graph.parameters) names.push_back(graph.node(p).name);
  for (const ast::Statement& s : program.statements) {
    if (s.kind != ast::Statement::Kind::Freeze && s.kind != ast::Statement::Kind::LrMult) continue;
    double multiplier = 0;
    if (s.kind == ast::Statement::Kind::LrMult) {
      auto v = constant_value(*s.value, sink);
      if (!v) continue;
      if (!(*v >= 0) || *v > 1e6) {
        sink.error(s.value->location, "a learning-rate multiplier must be >= 0 (0 freezes)");
        continue;
      }
      multiplier = *v;
    }
    int matched = 0;
    for (NodeId p : graph.parameters) {
      Node& n = graph.nodes[p];
      if (n.attributes_as<ParameterAttributes>().buffer) continue;  // state, never trained
      if (fnmatch(s.source.c_str(), n.name.c_str(), 0) != 0) continue;
      ++matched;
      auto& parameter = n.attributes_as<ParameterAttributes>();
      parameter.lr_mult = multiplier;
      parameter.trainable = multiplier > 0;
    }
    if (matched == 0)
      sink.error(s.source_location, "'" + s.source + "' matches no parameter" +
                                        did_you_mean(s.source, names) +
                                        "; parameters are named like 'code.weights' and 'code.bias'");
  }
}

}  // namespace hg
