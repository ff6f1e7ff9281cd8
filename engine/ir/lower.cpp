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
#include "ir/lower_util.h"
#include "ir/lowering.h"
#include "ir/templates.h"

namespace hg {
namespace detail {

NodeId Lowering::add_parameter(const std::string& suffix, std::vector<int64_t> dims,
                               const SourceLocation& where) {
  Node n;
  n.op = OpKind::Parameter;
  n.name = current_->name + "." + suffix;
  n.location = where;
  n.dims = std::move(dims);
  NodeId id = graph_.add(std::move(n));
  graph_.parameters.push_back(id);
  return id;
}

// One parametric op per statement: the statement's name is its parameters' stable name. The error goes
// to whichever of the two comes second in the text.
bool Lowering::claim_parameters(const ast::Expr& call, const char* op) {
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

// dense(src, units, tied=NAME, bias=1): parameters NAME.weights (units, in) and NAME.bias (units).
NodeId Lowering::lower_dense(const ast::Expr& call) {
  if (!check_arguments(call, 2, {"tied", "bias"}, sink_)) return kNoNode;
  if (!claim_parameters(call, "dense")) return kNoNode;
  const std::vector<NodeId> inputs = lower_inputs(call, 1, "op");
  std::optional<int64_t> units;  // the constant attributes are checked even when the input failed
  if (const ast::Arg* arg = positional(call, 1)) units = positive_integer(*arg->value, "dense units", sink_);
  bool ok = !positional(call, 1) || units.has_value();
  bool has_bias = true;
  if (const ast::Arg* arg = keyword(call, "bias")) {
    std::optional<int64_t> flag = flag_value(*arg->value, "bias", sink_);
    ok = ok && flag.has_value();
    has_bias = flag.value_or(1) != 0;
  }
  if (inputs.empty()) return kNoNode;
  const Node src = graph_.node(inputs[0]);
  const int64_t in = src.elements_per_sample();
  NodeId weights = kNoNode;
  bool transposed = false;
  if (const ast::Arg* tied = keyword(call, "tied")) {
    if (tied->value->kind != ast::Expr::Kind::Name) {
      sink_.error(tied->value->location, "tied= names the dense node whose weights to reuse, found '" +
                                             ast::to_string(*tied->value) + "'");
      return kNoNode;
    }
    const std::string& owner = tied->value->text;
    const NodeId owner_id = resolve(owner, tied->value->location);
    if (owner_id == kNoNode) return kNoNode;
    if (graph_.node(owner_id).op == OpKind::Parameter) {
      sink_.error(tied->value->location, "tied= names the dense node whose weights to reuse: write tied=" +
                                             owner.substr(0, owner.rfind('.')));
      return kNoNode;
    }
    weights = graph_.find(owner + ".weights");
    if (weights == kNoNode || graph_.node(weights).op != OpKind::Parameter) {
      sink_.error(
          tied->value->location,
          "'" + owner + "' owns no weights to reuse; tied= names a dense node that has its own weights");
      return kNoNode;
    }
    const Node& w = graph_.node(weights);  // the encoder's (out, in) = our (in, out)
    transposed = true;
    if (w.dims[0] != in) {
      sink_
          .error(call.location, "dense '" + current_->name + "': input '" + src.name + "' has " +
                                    std::to_string(in) + " features, tied weights of '" + tied->value->text +
                                    "' expect " + std::to_string(w.dims[0]))
          .notes.push_back({Severity::Note, w.location, "'" + w.name + "' is " + shape_string(w.dims), {}});
      return kNoNode;
    }
    if (units && *units != w.dims[1]) {
      sink_
          .error(call.location, "dense '" + current_->name + "': " + std::to_string(*units) +
                                    " units, but the tied weights of '" + tied->value->text + "' give " +
                                    std::to_string(w.dims[1]))
          .notes.push_back({Severity::Note, w.location, "'" + w.name + "' is " + shape_string(w.dims), {}});
      return kNoNode;
    }
    units = w.dims[1];
  } else if (!units && ok) {
    sink_.error(call.location, "dense '" + current_->name + "' needs a number of units: dense(x, 128)");
    return kNoNode;
  }
  if (!ok) return kNoNode;
  if (!src.batched) {
    sink_.error(positional(call, 0)->value->location,
                "dense expects a batch of samples, but '" + src.name + "' is a parameter");
    return kNoNode;
  }
  if (!transposed) weights = add_parameter("weights", {*units, in}, call.location);
  Node n;
  n.op = OpKind::Dense;
  n.name = current_->name + ".dense";
  n.location = call.location;
  n.inputs = {inputs[0], weights};
  if (has_bias) n.inputs.push_back(add_parameter("bias", {*units}, call.location));
  n.dims = {*units};
  n.batched = true;
  n.units = *units;
  n.transposed_weights = transposed;
  return graph_.add(std::move(n));
}

NodeId Lowering::lower_term(const ast::Expr& call, const TermRef& term, OpKind op) {
  const hg_term& t = *term.term;
  std::optional<std::vector<double>> params = term_parameters(call, term, sink_);
  std::vector<NodeId> inputs = lower_inputs(call, size_t(t.num_inputs), "term");
  if (!params || inputs.empty()) return kNoNode;
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
  n.op = op;
  n.name = op == OpKind::Term ? term.full_name : current_->name + "." + term.full_name;
  n.location = call.location;
  n.inputs = inputs;
  n.term = &term;
  n.term_params = *params;
  if (op == OpKind::Corrupt) {
    n.dims = graph_.node(inputs[0]).dims;
    n.batched = graph_.node(inputs[0]).batched;
  }
  return graph_.add(std::move(n));
}

// loss = w1 * term1(...) + w2 * term2(...) - ...
bool Lowering::collect_terms(const ast::Expr& e, double weight,
                             std::vector<std::pair<double, NodeId>>& terms) {
  using K = ast::Expr::Kind;
  if (e.kind == K::Call) {
    const TermRef* term = plugins_.find(e.text);
    if (term && term->term->kind != HG_TERM_CORRUPTION) {
      NodeId id = lower_term(e, *term, OpKind::Term);
      if (id == kNoNode) return false;
      terms.emplace_back(weight, id);
      return true;
    }
    if (term) {
      sink_.error(e.location, "'" + e.text + "' is a corruption term; it belongs in a value, as in noisy = " +
                                  e.text + "(x), not in the loss");
      return false;
    }
    if (!term &&
        (e.text.find('.') != std::string::npos || std::count(kOps.begin(), kOps.end(), e.text) == 0)) {
      report_unknown_callee(e);
      return false;
    }
  }
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
              "the loss must be a weighted sum of loss and regularizer terms, such as "
              "loss.bce(r, x) + 0.001 * reg.l2(code.weights); found '" +
                  ast::to_string(e) + "'");
  return false;
}

void Lowering::lower_objective() {
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
  n.op = OpKind::Objective;
  n.name = "loss";
  n.location = statement->name_location;
  for (auto [weight, id] : terms) {
    n.inputs.push_back(id);
    n.weights.push_back(weight);
  }
  graph_.objective = graph_.add(std::move(n));
}

}  // namespace detail

using detail::Lowering;

Graph lower(const ast::Program& program, const std::string& text, const PluginRegistry& plugins) {
  return Lowering(program, plugins).run(text);
}

Graph load_graph(const std::string& path, const PluginRegistry& plugins) {
  DiagnosticSink sink;
  ast::Program program = parse_graph_file(path, sink);
  sink.throw_if_errors();  // names in a file that did not parse would only add noise
  return lower(program, program.source_text, plugins);
}

}  // namespace hg
