// Turns a parsed graph file into the IR: resolves names (definitions may come in any order; a cycle is an
// error), looks up plugin terms, creates parameters with stable names, evaluates constant attributes and
// infers every shape. All user errors are collected and thrown together as hg::Error.
#pragma once

#include "frontend/ast.h"
#include "ir/graph.h"

namespace hg {

Graph lower(const ast::Program& program, const std::string& text, const OpTable& ops,
            const TermCatalog& terms);

// parse + lower; throws hg::Error with every diagnostic found.
Graph load_graph(const std::string& path, const OpTable& ops, const TermCatalog& terms);

}  // namespace hg
