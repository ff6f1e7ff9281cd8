// The lowering pass: name resolution, statements, templates, terms and the objective (lower.cpp), and the
// context every op's shape rule works in (engine/ops/). An op's `lower` reads its call's arguments through
// the helpers in ir/lower_util.h and adds its node here; errors go to sink() at their place.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "frontend/ast.h"
#include "ir/graph.h"
#include "ir/lower_util.h"
#include "ir/templates.h"

namespace hg {

class LowerContext {
 public:
  LowerContext(const ast::Program& program, const OpTable& ops, const TermCatalog& terms)
      : program_(program), ops_(ops), plugins_(terms) {}

  // ---- for ops' shape rules ------------------------------------------------------------------------------
  DiagnosticSink& sink() { return sink_; }
  const Graph& graph() const { return graph_; }
  const OpTable& ops() const { return ops_; }
  // The statement being lowered: its name prefixes the names of the nodes and parameters an op creates.
  const std::string& statement_name() const { return current_->name; }
  NodeId add(Node node) { return graph_.add(std::move(node)); }
  // The common case of add(): a node of `op` for the current statement, named NAME.SUFFIX (the op's own name
  // unless `suffix` is given; the statement's last node is renamed NAME afterwards), at `where`, reading
  // `inputs`, shaped `dims` per sample when `batched` (in all otherwise), with the op's `attributes`.
  NodeId add_node(const Op& op, const SourceLocation& where, std::vector<NodeId> inputs,
                  std::vector<int64_t> dims, bool batched, std::shared_ptr<Attributes> attributes = nullptr,
                  const std::string& suffix = "") {
    Node n;
    n.op = &op;
    n.name = statement_name() + "." + (suffix.empty() ? std::string(op.name()) : suffix);
    n.location = where;
    n.inputs = std::move(inputs);
    n.dims = std::move(dims);
    n.batched = batched;
    n.attributes = std::move(attributes);
    return add(std::move(n));
  }
  NodeId lower_value(const ast::Expr& e) { return lower_expr(e); }
  // A use of a name in the graph (lowering its statement first if need be); kNoNode after an error.
  NodeId resolve(const std::string& name, const SourceLocation& where);
  // Whether each of a term's inputs is of a kind the term declares; reports each one that is not.
  bool check_input_kinds(const ast::Expr& call, const TermInfo& term, const std::vector<NodeId>& inputs);
  // The first `count` positional arguments, lowered; reports a missing one. Empty after any error.
  std::vector<NodeId> lower_inputs(const ast::Expr& call, size_t count, const char* what);
  // NAME.suffix, a new parameter of the current statement; `initial` fills it when its rank is below 2.
  // A layer's weights and bias give their fan_in (ParameterAttributes::fan_in).
  NodeId add_parameter(const std::string& suffix, std::vector<int64_t> dims, const SourceLocation& where,
                       float initial = 0, int64_t fan_in = 0);
  // NAME.suffix, a new buffer (ParameterAttributes::buffer) of the current statement, filled with `initial`.
  NodeId add_buffer(const std::string& suffix, std::vector<int64_t> dims, const SourceLocation& where,
                    float initial);
  // One parametric op per statement, so that its parameters have a stable name; reports a second.
  bool claim_parameters(const ast::Expr& call, const char* op);
  // Where a value comes from, for notes: the name of its statement, or the op that created a parameter.
  SourceLocation definition_of(const Node& node) const {
    auto it = definitions_.find(node.name);
    return it != definitions_.end() ? it->second->name_location : node.location;
  }

  Graph run(const std::string& text) {
    graph_.ops = &ops_;
    graph_.file = program_.file;
    graph_.source_hash = fnv1a_hex(text);
    collect_definitions();
    for (const ast::Statement& s : program_.statements) {
      switch (s.kind) {
        case ast::Statement::Kind::Data:
          lower_data(s);
          break;
        case ast::Statement::Kind::Train:
          lower_train_block(s);
          break;
        case ast::Statement::Kind::Input:
        case ast::Statement::Kind::Assign:
          if (s.name != "loss") resolve(s.name, s.name_location);
          break;
        case ast::Statement::Kind::Include:  // parse_graph_file splices included files in
          sink_.error(s.location, "include is only resolved when the graph is read from a file");
          break;
        case ast::Statement::Kind::Def:  // collected up front; expanded where called
        case ast::Statement::Kind::Freeze:
        case ast::Statement::Kind::LrMult:  // applied once every parameter exists
          break;
      }
    }
    lower_objective();
    check_selection(graph_, sink_);
    apply_parameter_rules(program_, graph_, sink_);
    if (sink_.has_errors()) {
      std::vector<Diagnostic> all = sink_.diagnostics();  // names resolve on demand; report in file order
      std::stable_sort(all.begin(), all.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.where.file, a.where.line, a.where.column) <
               std::tie(b.where.file, b.where.line, b.where.column);
      });
      throw Error(all);
    }
    verify(graph_);
    return std::move(graph_);
  }

 private:
  // ---- names -------------------------------------------------------------------------------------------
  void collect_definitions() {
    for (const ast::Statement& s : program_.statements) {
      if (s.kind == ast::Statement::Kind::Def) {
        auto [it, inserted] = templates_.emplace(s.name, &s);
        const bool clashes = ops_.find(s.name) != nullptr;
        if (!inserted || clashes)
          sink_
              .error(s.name_location,
                     clashes ? "'" + s.name + "' is a built-in op; give the template another name"
                             : "template '" + s.name + "' is already defined")
              .notes.push_back({Severity::Note, it->second->name_location, "first defined here", {}});
        continue;
      }
      if (s.kind != ast::Statement::Kind::Assign && s.kind != ast::Statement::Kind::Input) continue;
      auto [it, inserted] = definitions_.emplace(s.name, &s);
      if (!inserted) {
        duplicated_.insert(s.name);
        sink_.error(s.name_location, "'" + s.name + "' is already defined")
            .notes.push_back({Severity::Note, it->second->name_location, "first defined here", {}});
      }
    }
  }

  std::vector<std::string> known_names() const {
    std::vector<std::string> names;
    for (const auto& [name, statement] : definitions_)
      if (name != "loss") names.push_back(name);
    for (NodeId p : graph_.parameters) names.push_back(graph_.node(p).name);
    return names;
  }

  NodeId lower_definition(const std::string& name, const SourceLocation& where) {
    if (auto it = lowered_.find(name); it != lowered_.end()) return it->second;
    auto def = definitions_.find(name);
    if (def == definitions_.end() || name == "loss") return resolve_parameter(name, where);
    if (std::find(stack_.begin(), stack_.end(), name) != stack_.end()) {
      std::string path;
      for (auto it = std::find(stack_.begin(), stack_.end(), name); it != stack_.end(); ++it)
        path += *it + " -> ";
      sink_.error(where, "cycle: '" + name + "' depends on itself (" + path + name + ")");
      return lowered_[name] = kNoNode;
    }
    stack_.push_back(name);
    const ast::Statement* outer_statement = current_;  // a use before its definition interrupts a statement
    const ast::Expr* outer_parametric = parametric_;
    const ast::Statement& s = *def->second;
    NodeId id = s.kind == ast::Statement::Kind::Input ? lower_input(s) : lower_value(s);
    current_ = outer_statement;
    parametric_ = outer_parametric;
    stack_.pop_back();
    if (auto it = lowered_.find(name); it != lowered_.end()) return it->second;  // set by a cycle report
    return lowered_[name] = id;
  }

  // `node.weights` / `node.bias`: lower the owning statement, then find the parameter.
  NodeId resolve_parameter(const std::string& name, const SourceLocation& where) {
    const size_t dot = name.rfind('.');
    if (dot != std::string::npos && definitions_.count(name.substr(0, dot))) {
      const std::string owner = name.substr(0, dot);
      if (resolve(owner, where) == kNoNode) return kNoNode;  // reported already
      if (NodeId id = graph_.find(name); id != kNoNode && graph_.node(id).is(OpRole::Parameter)) return id;
      const std::vector<std::string> owned = parameters_of(owner);
      std::string message = "'" + owner + "' has no parameter '" + name.substr(dot + 1) + "'";
      if (owned.empty())
        message += "; it has no parameters";
      else if (std::string hint = did_you_mean(name, owned); !hint.empty())
        message += hint;
      else
        message += "; its parameters are '" + join(owned, "', '") + "'";
      sink_.error(where, message);
      return kNoNode;
    }
    if (name == "loss") {
      sink_.error(where, "'loss' is the objective and cannot be used as a value");
      return kNoNode;
    }
    sink_.error(where, "unknown name '" + name + "'" + did_you_mean(name, known_names()));
    return kNoNode;
  }

  std::vector<std::string> parameters_of(const std::string& owner) const {
    std::vector<std::string> names;
    for (NodeId p : graph_.parameters)
      if (graph_.node(p).name.rfind(owner + ".", 0) == 0) names.push_back(graph_.node(p).name);
    return names;
  }

  static std::string join(const std::vector<std::string>& parts, const std::string& separator) {
    std::string out;
    for (const std::string& part : parts) out += (out.empty() ? "" : separator) + part;
    return out;
  }

  // ---- statements --------------------------------------------------------------------------------------
  NodeId lower_input(const ast::Statement& s) {
    if (s.source != "image" && s.source != "label") {
      // 'train.image': the data set is chosen when running, so only the field is written here.
      const std::string field = s.source.substr(s.source.rfind('.') + 1);
      const std::string hint = field == "image" || field == "label" ? " (did you mean '" + field + "'?)"
                                                                    : did_you_mean(field, {"image", "label"});
      sink_.error(s.source_location,
                  "unknown data field '" + s.source + "'" + hint + "; an input reads 'image' or 'label'");
      return kNoNode;
    }
    if (s.source == "label" && s.shape.size() != 1) {
      sink_.error(s.shape_location,
                  "a label input is one-hot and needs one dimension, the number of classes");
      return kNoNode;
    }
    // Each dim is a positive integer (the parser checks); their product must stay far from overflowing the
    // element counts every pass computes.
    constexpr int64_t kMaxElements = int64_t(1) << 30;
    int64_t elements = 1;
    for (int64_t d : s.shape) {
      if (d > kMaxElements / elements) {
        sink_.error(s.shape_location, "input '" + s.name + "' " + shape_string(s.shape) +
                                          " has more than 2^30 elements per sample");
        return kNoNode;
      }
      elements *= d;
    }
    Node n;
    n.op = &ops_.of_role(OpRole::Input);
    n.name = s.name;
    n.location = s.name_location;
    n.dims = s.shape;
    n.batched = true;
    auto attributes = std::make_shared<InputAttributes>();
    attributes->source = s.source;
    n.attributes = attributes;
    return graph_.add(std::move(n));
  }

  NodeId lower_value(const ast::Statement& s) {
    current_ = &s;
    parametric_ = nullptr;
    NodeId id = lower_expr(*s.value);
    if (id == kNoNode) return kNoNode;
    if (s.value->kind != ast::Expr::Kind::Name) {
      graph_.nodes[id].name = s.name;  // the statement names the node its last op created
      return id;
    }
    // `a = b`: b keeps its own node and name. A parameter is simply known by both names (activation kernels
    // run over a batch, which a parameter has not); anything else gets a linear activation named a.
    if (!graph_.node(id).batched) return id;
    auto alias = std::make_unique<ast::Expr>();
    alias->kind = ast::Expr::Kind::Call;
    alias->location = s.value->location;
    alias->text = "linear";
    alias->args.resize(1);
    alias->args[0].location = s.value->location;
    alias->args[0].value = substitute(*s.value, {});
    expansions_.push_back(std::move(alias));
    const NodeId aliased = lower_expr(*expansions_.back());
    if (aliased != kNoNode) graph_.nodes[aliased].name = s.name;
    return aliased;
  }

  void lower_train_block(const ast::Statement& s) {
    if (train_block_) {
      sink_.error(s.location, "a second train block; put all settings in one")
          .notes.push_back({Severity::Note, train_block_->location, "the first train block is here", {}});
      return;
    }
    train_block_ = &s;
    lower_train(s, sink_, graph_.train);
  }

  void lower_data(const ast::Statement& s) {
    for (const DataBinding& b : graph_.data)
      if (b.name == s.name) {
        sink_.error(s.name_location, "data '" + s.name + "' is already defined")
            .notes.push_back({Severity::Note, b.location, "first defined here", {}});
        return;
      }
    if (auto binding = lower_data_binding(s, sink_)) graph_.data.push_back(*binding);
  }

  // ---- expressions -------------------------------------------------------------------------------------
  NodeId lower_expr(const ast::Expr& e) {
    switch (e.kind) {
      case ast::Expr::Kind::Name:
        return resolve(e.text, e.location);
      case ast::Expr::Kind::Call:
        return lower_call(e);
      case ast::Expr::Kind::Binary:  // arithmetic is an op like any other (ops/arithmetic.cpp)
      case ast::Expr::Kind::Negate:
        if (const Op* op = ops_.find(arithmetic_op(e))) return op->lower(*this, e);
        [[fallthrough]];
      case ast::Expr::Kind::Number:
      case ast::Expr::Kind::String:
      case ast::Expr::Kind::List:  // lists are attribute values (classes=[5, 6]), not values of the graph
        break;
    }
    sink_.error(e.location,
                "expected a value such as a name or an op call, found '" + ast::to_string(e) + "'");
    return kNoNode;
  }

  // The reserved op names that `a + b`, `a - b`, `a * b`, `a / b` and `-a` lower through.
  static const char* arithmetic_op(const ast::Expr& e) {
    if (e.kind == ast::Expr::Kind::Negate) return "neg";
    switch (e.op) {
      case '+':
        return "add";
      case '-':
        return "sub";
      case '*':
        return "mul";
      case '/':
        return "div";
    }
    return "";
  }

  NodeId lower_call(const ast::Expr& call) {
    const std::string& callee = call.text;
    if (const Op* op = ops_.find(callee)) return op->lower(*this, call);
    if (auto it = templates_.find(callee); it != templates_.end()) return expand_template(call, *it->second);
    if (const TermInfo* term = plugins_.find(callee)) {
      if (term->term->kind == HG_TERM_CORRUPTION) return lower_term(call, *term, OpRole::Corrupt);
      sink_.error(call.location, "'" + callee + "' is a " + term_kind_name(term->term->kind) +
                                     " term; it can only appear in 'loss = ...'");
      return kNoNode;
    }
    report_unknown_callee(call);
    return kNoNode;
  }

  // A def's body, with its parameters replaced by the call's arguments, lowered as if written in place.
  // Errors inside it get a note pointing at the call.
  NodeId expand_template(const ast::Expr& call, const ast::Statement& def) {
    if (std::count(expanding_.begin(), expanding_.end(), def.name) || expanding_.size() > 32) {
      sink_.error(call.location,
                  "template '" + def.name + "' uses itself, so it would never finish expanding");
      return kNoNode;
    }
    std::map<std::string, const ast::Expr*> arguments;
    if (!bind_template_arguments(def, call, sink_, arguments)) return kNoNode;
    expansions_.push_back(substitute(*def.value, arguments));
    expanding_.push_back(def.name);
    const size_t first_error = sink_.count();
    const NodeId id = lower_expr(*expansions_.back());
    expanding_.pop_back();
    sink_.note_since(first_error, call.location, "in template '" + def.name + "' used here");
    return id;
  }

  // Also lowers the call's value arguments, so that their own mistakes are reported in the same run.
  void report_unknown_callee(const ast::Expr& call) {
    std::vector<std::string> candidates = ops_.callees();
    for (const auto& [name, def] : templates_) candidates.push_back(name);
    for (const std::string& t : plugins_.names()) candidates.push_back(t);
    const bool is_term = call.text.find('.') != std::string::npos;
    std::string hint = did_you_mean(call.text, candidates);
    if (is_term && hint.empty()) hint = namespace_terms(call.text.substr(0, call.text.rfind('.')));
    Diagnostic& d = sink_.error(
        call.location, std::string(is_term ? "unknown term '" : "unknown op '") + call.text + "'" + hint);
    if (is_term)
      for (const Diagnostic& failed : plugins_.load_errors())
        d.notes.push_back(
            {Severity::Note, failed.where, "a plugin that failed to load: " + failed.message, {}});
    for (const ast::Arg& arg : call.args)  // after the notes: lowering may add diagnostics and move `d`
      if (arg.keyword.empty() &&
          (arg.value->kind == ast::Expr::Kind::Name || arg.value->kind == ast::Expr::Kind::Call))
        lower_expr(*arg.value);
  }

  // "; 'reg' provides 'reg.l1' and 'reg.l2'" when no name is close, or which namespaces the plugins provide.
  std::string namespace_terms(const std::string& name_space) const {
    std::vector<std::string> in_namespace, namespaces;
    for (const std::string& t : plugins_.names()) {
      const std::string prefix = t.substr(0, t.rfind('.'));
      if (prefix == name_space) in_namespace.push_back(t);
      if (std::find(namespaces.begin(), namespaces.end(), prefix) == namespaces.end())
        namespaces.push_back(prefix);
    }
    if (!in_namespace.empty()) return "; '" + name_space + "' provides '" + join(in_namespace, "', '") + "'";
    if (namespaces.empty()) return "; no term plugins are loaded";
    return "; no plugin provides '" + name_space + "' (loaded: '" + join(namespaces, "', '") + "')";
  }

  NodeId lower_term(const ast::Expr& call, const TermInfo& term, OpRole role);
  void lower_objective();
  bool collect_terms(const ast::Expr& e, double weight, std::vector<std::pair<double, NodeId>>& terms);
  bool collect_value(const ast::Expr& e, double weight, std::vector<std::pair<double, NodeId>>& terms);

  const ast::Program& program_;
  const OpTable& ops_;
  const TermCatalog& plugins_;
  DiagnosticSink sink_;
  Graph graph_;
  std::map<std::string, const ast::Statement*> definitions_;
  std::map<std::string, const ast::Statement*> templates_;  // def statements by name
  std::vector<ast::ExprPtr> expansions_;                    // expanded template bodies, alive while lowering
  std::vector<std::string> expanding_;                      // templates being expanded, innermost last
  std::set<std::string> duplicated_;                        // names with more than one definition
  const ast::Statement* train_block_ = nullptr;
  std::map<std::string, NodeId> lowered_;
  std::vector<std::string> stack_;
  const ast::Statement* current_ = nullptr;
  const ast::Expr* parametric_ = nullptr;  // the op that owns the current statement's parameters
};

}  // namespace hg
