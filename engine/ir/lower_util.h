// Small pieces of lowering shared by lower.cpp and settings.cpp: argument checks, constant evaluation,
// plugin-term parameters, data bindings and the train block.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "frontend/ast.h"
#include "ir/graph.h"

namespace hg {

std::string fnv1a_hex(const std::string& text);
const char* term_kind_name(int32_t kind);
// "a parameter", "an activation or a target (a data input)": the HG_INPUT_* kinds in `mask`, for messages.
std::string input_kinds_text(uint32_t mask);

// Evaluates a numeric constant (numbers, + - * /, unary minus); reports and returns nullopt otherwise.
std::optional<double> constant_value(const ast::Expr& e, DiagnosticSink& sink);
std::optional<int64_t> positive_integer(const ast::Expr& e, const std::string& what, DiagnosticSink& sink);
std::optional<int64_t> flag_value(const ast::Expr& e, const std::string& what, DiagnosticSink& sink);

const ast::Arg* positional(const ast::Expr& call, size_t index);
const ast::Arg* keyword(const ast::Expr& call, const std::string& name);
// At most `max_positional` positional arguments, only `keywords` as keyword names, none twice.
bool check_arguments(const ast::Expr& call, size_t max_positional, const std::vector<std::string>& keywords,
                     DiagnosticSink& sink);

// A term's keyword arguments checked against its parameter specs (type, bounds); defaults filled in.
std::optional<std::vector<double>> term_parameters(const ast::Expr& call, const TermInfo& term,
                                                   DiagnosticSink& sink);

std::optional<DataBinding> lower_data_binding(const ast::Statement& s, DiagnosticSink& sink);
void lower_train(const ast::Statement& s, DiagnosticSink& sink, TrainSettings& settings);
// The train block's `select` names held-out data the graph defines and a metric it logs; `patience` needs a
// `select`. Runs once the whole graph is lowered.
void check_selection(const Graph& graph, DiagnosticSink& sink);
// Each term of the objective's key in reports and logs: its name, or "name#k" for the k-th of several uses
// of one term (two reg.l2), so that no two keys collide.
std::vector<std::string> term_keys(const Graph& graph);

// `--set key=value` from the command line: batch, epochs, seed, lr, momentum. Errors name the flag.
void apply_setting(TrainSettings& settings, const std::string& assignment);

// `--set data.NAME.skip=N`, `data.NAME.count=N`, `data.NAME.subset.n=N` (or subset.seed, subset.balanced,
// split.valid, split.seed, split.stratify) changes a data binding without editing the graph (a pipeline
// fine-tunes on 100, 1000 or all labels this way). nullopt when `assignment` is no data key; a malformed
// data key throws. Implemented in lower_data.cpp.
struct DataSetting {
  std::string binding, field;  // field: skip | count | subset.n | ... as above
  double value = 0;
};
std::optional<DataSetting> data_setting(const std::string& assignment);
// Any `--set`: the data keys above on `graph.data`, the rest on `graph.train`.
void apply_setting(Graph& graph, const std::string& assignment);

}  // namespace hg
