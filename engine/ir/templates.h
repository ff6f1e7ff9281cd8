// Two graph-file features that work on whole statements: `def` templates (expanded by cloning their body
// with the parameters replaced by the caller's argument expressions) and `freeze` / `lr_mult` rules (globs
// over parameter names, applied once every parameter exists).
#pragma once

#include <map>
#include <string>

#include "frontend/ast.h"
#include "ir/graph.h"

namespace hg {

// A copy of `body` in which every Name found in `arguments` is replaced by a copy of its expression.
ast::ExprPtr substitute(const ast::Expr& body, const std::map<std::string, const ast::Expr*>& arguments);

// Binds a call's arguments to a def's parameters (positionally, or by parameter name); reports arity and
// unknown-parameter errors at the call. Returns false after reporting.
bool bind_template_arguments(const ast::Statement& def, const ast::Expr& call, DiagnosticSink& sink,
                             std::map<std::string, const ast::Expr*>& arguments);

// Applies every `freeze` and `lr_mult` statement of the program to the graph's parameters. A pattern that
// matches no parameter is an error listing close names.
void apply_parameter_rules(const ast::Program& program, Graph& graph, DiagnosticSink& sink);

}  // namespace hg
