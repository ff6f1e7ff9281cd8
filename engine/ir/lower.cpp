// Lowering from syntax tree to IR: name resolution in any order with cycle detection, op and term lookup,
// parameter creation, constant attributes and shape inference. Errors are collected, not thrown one by one,
// so a user sees every mistake in a file at once.
#include "ir/lower.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "frontend/parser.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/templates.h"

namespace hg {

// The node a use of `name` refers to, lowering its statement on first use; kNoNode after an error. A name
// defined twice resolves to nothing, since whichever definition was picked, its errors would mislead.
NodeId LowerContext::resolve(const std::string& name, const SourceLocation& where) {
  const NodeId id = lower_definition(name, where);
  return duplicated_.count(name) ? kNoNode : id;
}

// Positional arguments are inputs; keyword arguments are attributes checked by the op.
std::vector<NodeId> LowerContext::lower_inputs(const ast::Expr& call, size_t count, const char* what) {
  std::vector<NodeId> inputs;
  for (const ast::Arg& arg : call.args)
    if (arg.keyword.empty() && inputs.size() < count) inputs.push_back(lower_expr(*arg.value));
  if (inputs.size() < count)
    sink_.error(call.location, std::string(what) + " '" + call.text + "' expects " + std::to_string(count) +
                                   " input" + (count == 1 ? "" : "s") + ", got " +
                                   std::to_string(inputs.size()));
  for (NodeId id : inputs)
    if (id == kNoNode) return {};
  return inputs.size() == count ? inputs : std::vector<NodeId>{};
}

NodeId LowerContext::add_parameter(const std::string& suffix, std::vector<int64_t> dims,
                                   const SourceLocation& where, float initial, int64_t fan_in) {
  Node n;
  n.op = &ops_.of_role(OpRole::Parameter);
  n.name = current_->name + "." + suffix;
  n.location = where;
  n.dims = std::move(dims);
  auto attributes = std::make_shared<ParameterAttributes>();
  attributes->initial = initial;
  attributes->fan_in = fan_in;
  n.attributes = attributes;
  NodeId id = graph_.add(std::move(n));
  graph_.parameters.push_back(id);
  return id;
}

NodeId LowerContext::add_buffer(const std::string& suffix, std::vector<int64_t> dims,
                                const SourceLocation& where, float initial) {
  const NodeId id = add_parameter(suffix, std::move(dims), where, initial);
  auto& attributes = graph_.nodes[id].attributes_as<ParameterAttributes>();
  attributes.buffer = true;
  attributes.trainable = false;
  return id;
}

// One parametric op per statement: the statement's name is its parameters' stable name. The error goes
// to whichever of the two comes second in the text.
bool LowerContext::claim_parameters(const ast::Expr& call, const char* op) {
  if (parametric_) {
    const ast::Expr* first = parametric_;
    const ast::Expr* second = &call;
    if (std::make_pair(second->location.line, second->location.column) <
        std::make_pair(first->location.line, first->location.column))
      std::swap(first, second);
    sink_
        .error(second->location, std::string("a second parametric op (") + second->text + ") in '" +
                                     current_->name +
                                     "'; give each its own line so that its parameters get a stable name")
        .notes.push_back({Severity::Note,
                          first->location,
                          "the first (" + first->text + ") in '" + current_->name + "' is here",
                          {}});
    return false;
  }
  parametric_ = &call;
  return true;
}

// What a node is to a term that takes it as an input (HG_INPUT_*): data inputs are targets or labels.
static uint32_t input_kind(const Node& n) {
  if (n.is(OpRole::Parameter)) return HG_INPUT_PARAMETER;
  if (n.is(OpRole::Input))
    return n.attributes_as<InputAttributes>().source == "label" ? HG_INPUT_LABEL : HG_INPUT_TARGET;
  return HG_INPUT_ACTIVATION;
}

// Each input must be of a kind the term declares (reg.l2 wants a parameter, reg.l1 an activation); the
// error is at the argument.
bool LowerContext::check_input_kinds(const ast::Expr& call, const TermInfo& term,
                                     const std::vector<NodeId>& inputs) {
  const hg_term& t = *term.term;
  std::vector<const ast::Arg*> positional;
  for (const ast::Arg& arg : call.args)
    if (arg.keyword.empty()) positional.push_back(&arg);
  bool ok = true;
  for (size_t i = 0; i < inputs.size() && i < positional.size(); ++i) {
    const Node& n = graph_.node(inputs[i]);
    const uint32_t kind = input_kind(n);
    if (t.input_kinds[i] & kind) continue;
    sink_.error(positional[i]->value->location, term.full_name + "'s input '" + t.input_names[i] +
                                                    "' must be " + input_kinds_text(t.input_kinds[i]) +
                                                    ", but '" + n.name + "' is " + input_kinds_text(kind));
    ok = false;
  }
  return ok;
}

NodeId LowerContext::lower_term(const ast::Expr& call, const TermInfo& term, OpRole role) {
  const hg_term& t = *term.term;
  std::optional<std::vector<double>> params = term_parameters(call, term, sink_);
  std::vector<NodeId> inputs = lower_inputs(call, size_t(t.num_inputs), "term");
  if (!params || inputs.empty() || !check_input_kinds(call, term, inputs)) return kNoNode;
  for (size_t i = 1; i < inputs.size() && t.kind == HG_TERM_LOSS; ++i) {
    const Node& a = graph_.node(inputs[0]);
    const Node& b = graph_.node(inputs[i]);
    if (a.dims != b.dims || a.batched != b.batched) {
      Diagnostic& d =
          sink_.error(call.location, "term '" + term.full_name + "': " + t.input_names[0] + " '" + a.name +
                                         "' has shape " + shape_string(a.dims) + ", but " + t.input_names[i] +
                                         " '" + b.name + "' has shape " + shape_string(b.dims));
      d.notes.push_back({Severity::Note, definition_of(a), "'" + a.name + "' is defined here", {}});
      d.notes.push_back({Severity::Note, definition_of(b), "'" + b.name + "' is defined here", {}});
      return kNoNode;
    }
  }
  Node n;
  n.op = &ops_.of_role(role);
  n.name = role == OpRole::Term ? term.full_name : current_->name + "." + term.full_name;
  n.location = call.location;
  n.inputs = inputs;
  auto attributes = std::make_shared<TermAttributes>();
  attributes->term = term.full_name;
  attributes->kind = t.kind;
  attributes->parameters = *params;
  n.attributes = attributes;
  if (role == OpRole::Corrupt) {
    n.dims = graph_.node(inputs[0]).dims;
    n.batched = graph_.node(inputs[0]).batched;
  }
  return graph_.add(std::move(n));
}

// loss = w1 * term1(...) + w2 * term2(...) - w3 * value ..., each value a scalar or one number per sample.
bool LowerContext::collect_terms(const ast::Expr& e, double weight,
                                 std::vector<std::pair<double, NodeId>>& terms) {
  using K = ast::Expr::Kind;
  if (e.kind == K::Call) {
    const TermInfo* term = plugins_.find(e.text);
    if (term && term->term->kind != HG_TERM_CORRUPTION) {
      NodeId id = lower_term(e, *term, OpRole::Term);
      if (id == kNoNode) return false;
      terms.emplace_back(weight, id);
      return true;
    }
    if (term) {
      sink_.error(e.location, "'" + e.text + "' is a corruption term; it belongs in a value, as in noisy = " +
                                  e.text + "(x), not in the loss");
      return false;
    }
    if (!ops_.find(e.text) && !templates_.count(e.text)) {
      report_unknown_callee(e);
      return false;
    }
    return collect_value(e, weight, terms);
  }
  if (e.kind == K::Name) return collect_value(e, weight, terms);
  if (e.kind == K::Negate) return collect_terms(*e.lhs, -weight, terms);
  if (e.kind == K::Binary && (e.op == '+' || e.op == '-'))
    return collect_terms(*e.lhs, weight, terms) &
           collect_terms(*e.rhs, e.op == '-' ? -weight : weight, terms);
  if (e.kind == K::Binary && (e.op == '*' || e.op == '/')) {
    DiagnosticSink quiet;
    if (auto c = constant_value(*e.rhs, quiet)) {
      if (e.op == '/' && *c == 0) {
        sink_.error(e.rhs->location, "division by zero");
        return false;
      }
      return collect_terms(*e.lhs, e.op == '*' ? weight * *c : weight / *c, terms);
    }
    if (auto c = constant_value(*e.lhs, quiet); c && e.op == '*')
      return collect_terms(*e.rhs, weight * *c, terms);
  }
  sink_.error(e.location,
              "the loss must be a weighted sum of terms and scalar values, such as "
              "loss.bce(r, x) + 0.001 * reg.l2(code.weights); found '" +
                  ast::to_string(e) + "'");
  return false;
}

// A value in the loss: a scalar, or one number per sample (averaged over the batch, as terms are).
bool LowerContext::collect_value(const ast::Expr& e, double weight,
                                 std::vector<std::pair<double, NodeId>>& terms) {
  const NodeId id = lower_expr(e);
  if (id == kNoNode) return false;
  const Node& value = graph_.node(id);
  if (value.elements_per_sample() != 1) {
    sink_.error(e.location, "'" + ast::to_string(e) + "' is " + shape_string(value.dims, value.batched) +
                                ", but the loss adds scalars; reduce it with sum(...) or mean(...)");
    return false;
  }
  terms.emplace_back(weight, id);
  return true;
}

void LowerContext::lower_objective() {
  const ast::Statement* statement = nullptr;
  for (const ast::Statement& s : program_.statements)
    if (s.kind == ast::Statement::Kind::Assign && s.name == "loss" && !statement) statement = &s;
  if (!statement) {
    sink_.error({program_.file, 0, 0},
                "the graph has no 'loss = ...' statement, so there is nothing to train");
    return;
  }
  current_ = statement;
  std::vector<std::pair<double, NodeId>> terms;
  if (!collect_terms(*statement->value, 1.0, terms)) return;
  Node n;
  n.op = &ops_.of_role(OpRole::Objective);
  n.name = "loss";
  n.location = statement->name_location;
  auto attributes = std::make_shared<ObjectiveAttributes>();
  for (auto [weight, id] : terms) {
    n.inputs.push_back(id);
    attributes->weights.push_back(weight);
  }
  n.attributes = attributes;
  graph_.objective = graph_.add(std::move(n));
}

Graph lower(const ast::Program& program, const std::string& text, const OpTable& ops,
            const TermCatalog& terms) {
  return LowerContext(program, ops, terms).run(text);
}

Graph load_graph(const std::string& path, const OpTable& ops, const TermCatalog& terms) {
  DiagnosticSink sink;
  ast::Program program = parse_graph_file(path, sink);
  sink.throw_if_errors();  // names in a file that did not parse would only add noise
  return lower(program, program.source_text, ops, terms);
}

}  // namespace hg
